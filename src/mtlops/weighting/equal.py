"""Equal weighting: the plain sum of the task losses (every weight 1)."""

from __future__ import annotations

from mtlops.methods.base import NoParams
from mtlops.weighting.base import Weighting


class Equal(Weighting):
    Params = NoParams
    data_parallel = True
