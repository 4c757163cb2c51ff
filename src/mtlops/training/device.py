"""Which device and which mixed precision: decided once, never hard-coded."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """"auto" (or None) -> cuda if available, then mps, then cpu; any torch device string is accepted as is."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"train.device: {device!r} is not a torch device ({err}); use auto, cpu, cuda, cuda:1, mps"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device: {device!r} asked for CUDA but torch sees no CUDA device; use auto or cpu")
    return resolved


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full precision.

    "auto": bf16 on a GPU that supports it, else fp16 on CUDA; off on CPU and MPS (autocast there
    is slower than float32 for these small models). "bf16"/"fp16" are honoured where torch can.
    """
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    raise ValueError(f"train.amp: {amp!r}; allowed: auto, bf16, fp16, off")
