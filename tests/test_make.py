"""`make test` and `make test-faults` fail when pytest collects nothing (a marker typo, a moved folder):
before #25 their recipes mapped pytest's exit 5 to success. The slow suite does collect tests. And their
`--dist loadgroup` keeps an `xdist_group`'s tests on one worker, as the suite relies on (one Prefect harness,
one stack, one two-process launch at a time, one shared run of the flow)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _recipe(target: str) -> str:
    """The shell line `make <target>` runs pytest with (dry run: nothing is installed or run)."""
    out = subprocess.run(["make", "-n", target, f"BIN={Path(sys.executable).parent}"], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    (line,) = [line for line in out.splitlines() if "-m pytest" in line]
    return line


@pytest.mark.parametrize("target", ["test", "test-faults"])
def test_a_suite_that_collects_nothing_fails(target, tmp_path):
    line = _recipe(target)
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    # the same recipe, run on a folder where its marker expression selects nothing
    nothing = line.replace(" tests", f" {shlex.quote(str(tmp_path))}").replace("-n 2 --dist loadgroup", "")
    nothing = nothing.replace("-m faults_slow", "-m 'faults_slow and not faults_slow'").replace(
        '-m "not faults_slow"', "-m 'faults_slow and not faults_slow'")
    done = subprocess.run(["bash", "-c", nothing + " -p no:cacheprovider"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert "deselected" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 5, (nothing, done.returncode)


def test_the_slow_suite_collects_tests():
    """`make test-faults` selects by a marker: it must find cases (this suite itself runs in `make test`)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m",
                           "faults_slow", "tests"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = int(done.stdout.strip().splitlines()[-1].split("/")[0].split()[0])
    assert collected >= 3, done.stdout[-500:]


def test_loadgroup_keeps_a_groups_tests_on_one_worker(tmp_path):
    """pytest 9.2 silently broke it (pytest-xdist #1386: the group is written into a node id that pytest no longer
    reads), so every group ran spread over both workers; constraints.txt pins the pytest before."""
    line = _recipe("test")
    (tmp_path / "test_module_mark.py").write_text(
        "import pytest\npytestmark = pytest.mark.xdist_group('a')\n"
        + "".join(f"def test_a{i}():\n    pass\n" for i in range(4)))
    (tmp_path / "test_function_mark.py").write_text(
        "import pytest\n" + "".join(f"@pytest.mark.xdist_group('b')\ndef test_b{i}():\n    pass\n" for i in range(4)))
    command = line.replace(" tests", f" {shlex.quote(str(tmp_path))}").replace('-m "not faults_slow"', "")
    done = subprocess.run(["bash", "-c", command + " -v -p no:cacheprovider"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ran = re.findall(r"\[(gw\d+)\].*PASSED \S*::test_([ab])\d", done.stdout)
    assert len(ran) == 8, done.stdout[-2000:]
    workers = {group: {worker for worker, g in ran if g == group} for group in "ab"}
    assert all(len(w) == 1 for w in workers.values()), workers
