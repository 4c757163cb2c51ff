"""Run a script as on a bare GPU box: the stdlib, numpy, torch (with the packages torch itself requires) and
mtlops' own source import; any other installed package is absent, as it would be there.

    python tests/bare_gpu_box.py SCRIPT [ARGS...]     or     python tests/bare_gpu_box.py -c CODE
"""

from __future__ import annotations

import re
import runpy
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_modules(roots: tuple[str, ...] = ("torch", "numpy")) -> set[str]:
    """Top-level modules of `roots` and of every distribution they require (extras left out)."""
    dists: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if _key(name) in dists:
            continue
        dists.add(_key(name))
        try:
            needs = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [re.split(r"[ <>=!~;\[(]", r, maxsplit=1)[0] for r in needs if "extra ==" not in r]
    return {module for module, owners in packages_distributions().items() if any(_key(d) in dists for d in owners)}


def hide_the_rest() -> list[str]:
    """Make every other installed top-level module absent (`import` raises, `find_spec` answers None)."""
    hidden = sorted(set(packages_distributions()) - allowed_modules() - {"mtlops"} - set(sys.stdlib_module_names))
    for name in hidden:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]
    return hidden


if __name__ == "__main__":
    hide_the_rest()
    if sys.argv[1] == "-c":
        code, sys.argv = sys.argv[2], ["-c", *sys.argv[3:]]
        exec(compile(code, "<bare -c>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
