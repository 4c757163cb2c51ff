"""One rank of `mtlops.training.distributed.launch`: torchrun starts `python -m mtlops.training.rank <folder>`.

An entry module of its own, so the launcher's module is imported (not run as `__main__`) and its
classes pickle under their real names.
"""

import sys
from pathlib import Path

from mtlops.training.distributed import run_rank

if __name__ == "__main__":
    sys.exit(run_rank(Path(sys.argv[1])))
