"""Data-parallel training: `train.processes` copies of the loop, one per process, launched by torchrun.

`launch(fn, *args, processes=N)` runs `fn(*args)` in N processes started by torch's own launcher
(`python -m torch.distributed.run --standalone`: a rendezvous on this machine, gloo on the CPU,
nccl on CUDA, one GPU per process) and returns rank 0's answer; a process's error comes back as
the same exception. Inside `fit` the ranks then stay one model:

- each rank trains on its shard of every global batch (`train.batch_size` rows: each rank takes
  batch_size // N of them), so steps per epoch, schedule and weight average match one process;
- after the weighting's backward, every gradient (model and weighting parameters) is averaged
  over the ranks in one all-reduce; a weighting that decides from loss values or per-task
  gradients averages those first (`mtlops.weighting.base.mean_over_ranks`), and one that does
  not say it does (`Weighting.data_parallel`) is refused;
- rank 0 validates, runs the callbacks and sends the epoch's row and stop reason to the others,
  so early stopping decides identically everywhere; rank 0 alone writes checkpoints and shows
  progress; a non-finite loss on any rank stops every rank; each epoch ends with a check that
  the ranks hold bitwise the same weights. Buffers that training updates (BatchNorm's running
  statistics) are rank 0's in what is validated, checkpointed and returned.

Why not the `DistributedDataParallel` wrapper: its reducer hooks the gradient accumulation of one
backward per forward, while this loop's step is several autograd passes through the trunk/branch
cut, and gradient weightings write branch gradients into `.grad` themselves, past those hooks.
The averaged gradients are what DDP computes; this gives up only its overlap of communication
with the backward pass, small for these models.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from mtlops.errors import UserError
from mtlops.io import write_with

T = TypeVar("T")
JOB, RESULT = "job.pt", "result.pt"


class DistributedError(UserError, RuntimeError):
    """Data-parallel training cannot start here, or its processes failed without saying why."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes (rank 0 of 1 outside a launch)."""

    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> Ranks:
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Whether this process is one of a launch's ranks (then it trains its share instead of launching)."""
    return Ranks.current().parallel


# -------------------------------------------------------------------------------------------- launching
def launch(fn: Callable[..., T], *args: Any, processes: int, device: str = "auto", threads: int | None = None,
           **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in `processes` data-parallel processes; rank 0's return value.

    `fn` and its arguments travel pickled (a function of an importable module; no lambdas). `threads`:
    torch threads per process (OMP_NUM_THREADS; default 1, so N processes use N cores).
    """
    if fn.__module__ == "__main__":
        raise DistributedError(f"launch: {fn.__qualname__} is defined in __main__, which the processes cannot "
                               "import; move it into a module")
    backend = check_processes(processes, device)
    with tempfile.TemporaryDirectory(prefix="mtlops-ddp-") as tmp:
        folder = Path(tmp)
        torch.save({"fn": fn, "args": args, "kwargs": kwargs, "backend": backend}, folder / JOB)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads or 1)}
        if sys.platform.startswith("linux"):
            env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo's peers talk over the loopback interface
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                   f"--nproc-per-node={processes}", "-m", "mtlops.training.rank", str(folder)]
        code = subprocess.run(command, env=env, check=False).returncode
        return _outcome(folder, code, processes)


def check_processes(processes: int, device: str) -> str:
    """The process-group backend for `processes` ranks on `device`; a count this machine cannot run is refused."""
    from mtlops.training.device import resolve_device

    kind = resolve_device(device).type
    if processes < 1:
        raise DistributedError(f"train.processes: {processes}; it must be at least 1")
    if kind == "cuda":
        gpus = torch.cuda.device_count()
        if processes > gpus:
            raise DistributedError(f"train.processes: {processes} on CUDA needs as many GPUs; torch sees {gpus}")
        return "nccl"
    if kind != "cpu":
        raise DistributedError(f"train.processes: {processes} needs device cpu or cuda (train.device resolves to "
                               f"{kind!r}, which has no process-group backend); set train.processes: 1")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if processes > cores:
        raise DistributedError(f"train.processes: {processes} is more than the {cores} CPU cores this process may "
                               "use; lower it (each process trains on its own core)")
    return "gloo"


def _outcome(folder: Path, code: int, processes: int) -> Any:
    """Rank 0's answer, else the lowest rank's error as raised there."""
    if (folder / RESULT).exists():
        return torch.load(folder / RESULT, map_location="cpu", weights_only=False)  # written by our own ranks
    for rank in range(processes):
        path = folder / f"error-{rank}.pkl"
        if path.exists():
            raise pickle.loads(path.read_bytes())
    raise DistributedError(f"data-parallel training ended with exit code {code} and no process reported an error "
                           "(killed, or out of memory?); torchrun's log is above")


def run_rank(folder: Path) -> int:
    """One rank, as torchrun starts it: join the group, run the job, report the outcome (see `launch`)."""
    job = torch.load(folder / JOB, map_location="cpu", weights_only=False)
    if job["backend"] == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(job["backend"])
    rank = dist.get_rank()
    try:
        result = job["fn"](*job["args"], **job["kwargs"])
        if rank == 0:
            write_with(folder / RESULT, lambda tmp: torch.save(result, tmp))
        dist.barrier()
        return 0
    except Exception as err:
        try:
            payload = pickle.dumps(err)
        except Exception:  # an exception that does not pickle comes back as its text
            payload = pickle.dumps(DistributedError(f"rank {rank}: {type(err).__name__}: {err}"))
        (folder / f"error-{rank}.pkl").write_bytes(payload)
        print(f"rank {rank}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    finally:
        dist.destroy_process_group()


# ------------------------------------------------------------------------------------ inside the loop
def refuse_unsynchronised(weighting: Any, ranks: Ranks) -> None:
    """A weighting that does not declare `data_parallel` cannot train in several processes."""
    if ranks.parallel and not getattr(weighting, "data_parallel", False):
        from mtlops.weighting import WEIGHTINGS

        name = next((k for k, cls in WEIGHTINGS.items() if cls is type(weighting)), type(weighting).__name__)
        raise DistributedError(
            f"weighting {name!r} cannot train in {ranks.world} processes: it does not average the loss values and "
            "per-task gradients it decides from over the processes (Weighting.data_parallel), so each would "
            "take a different step; set train.processes: 1 or choose another weighting")


def broadcast_weights(module: torch.nn.Module) -> None:
    """Every rank starts from rank 0's parameters and buffers."""
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def average_gradients(params: Sequence[Tensor], world: int) -> None:
    """Each parameter's `.grad` becomes its mean over the ranks, in one all-reduce (with a count of the ranks
    that have one appended, each collective being a wait for the slowest rank).

    A parameter no rank has a gradient for keeps None (as in one process, the optimiser skips it);
    one that only some ranks have counts zeros elsewhere.
    """
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    present = torch.tensor([p.grad is not None for p in params], dtype=grads[0].dtype, device=grads[0].device)
    flat = torch.cat([g.reshape(-1) for g in grads] + [present])
    dist.all_reduce(flat)
    have = (flat[-len(params):] > 0).tolist()
    offset = 0
    for p, _g, has in zip(params, grads, have):
        n = p.numel()
        p.grad = (flat[offset:offset + n] / world).view_as(p) if has else None
        offset += n


def sum_over_ranks(tensor: Tensor) -> Tensor:
    out = tensor.clone()
    dist.all_reduce(out)
    return out


def first_over_ranks(first_bad: Tensor) -> Tensor:
    """Per task, the earliest step any rank saw a non-finite loss (-1: none did)."""
    never = torch.iinfo(first_bad.dtype).max
    earliest = torch.where(first_bad < 0, never, first_bad)
    dist.all_reduce(earliest, op=dist.ReduceOp.MIN)
    return torch.where(earliest == never, -1, earliest)


def from_main(value: T | None) -> T:
    """Rank 0's `value` on every rank."""
    box: list[Any] = [value]  # None on the other ranks, rank 0's value after the broadcast
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_same_weights(module: torch.nn.Module, epoch: int) -> None:
    """Fail closed when the ranks' weights differ in any bit (a step that was not the same everywhere).

    Every parameter's bytes, read as 64-bit integers, are reduced to their minimum and maximum over the
    ranks: equal everywhere only when every rank holds the same bits (a sum per parameter, as before,
    missed two weights swapped or changes that cancel). It moves twice the model's size once an epoch."""
    raw = [p.detach().contiguous().reshape(-1).view(torch.uint8) for p in module.parameters()]
    flat = torch.cat(raw) if raw else torch.zeros(0, dtype=torch.uint8)
    flat = torch.cat([flat, flat.new_zeros(-len(flat) % 8)]).view(torch.int64)
    low, high = flat.clone(), flat.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if not torch.equal(low, high):
        raise DistributedError(f"the training processes' weights differ after epoch {epoch}: a step was not "
                               "the same on every process")
