"""Sharing architectures: one file each behind `Architecture`, one line each in `ARCHITECTURES`."""

from __future__ import annotations

from mtlops.models.architectures.base import Architecture
from mtlops.models.architectures.cross_stitch import CrossStitch
from mtlops.models.architectures.hard import Hard
from mtlops.models.architectures.mmoe import MMoE
from mtlops.models.architectures.ple import PLE
from mtlops.models.architectures.soft import Soft
from mtlops.models.architectures.tabm import TabM

ARCHITECTURES: dict[str, type[Architecture]] = {
    "hard": Hard,
    "soft": Soft,
    "cross_stitch": CrossStitch,
    "mmoe": MMoE,
    "ple": PLE,
    "tabm": TabM,  # off the default search: k members cost k times one on the shared layers
}

__all__ = ["ARCHITECTURES", "Architecture"]
