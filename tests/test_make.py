"""`make test` and `make test-faults` fail when pytest collects nothing (a marker typo, a moved folder):
before #25 their recipes mapped pytest's exit 5 to success. The slow suite does collect tests."""

from __future__ import annotations

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
