"""Distributed training in one place: process group from the torchrun environment, DDP or
FSDP wrapping, full state dicts for saving (and for a rollout engine), and small collectives.

    dist = setup()                        # Dist(rank, world, local_rank, device); world 1 alone
    model = wrap(model, dist, fsdp=False) # DDP (world > 1), FSDP2 per decoder layer, or as is
    core = unwrap(model)                  # the module itself (save_pretrained, config, ...)
    with no_sync(model, last=k == n - 1): loss.backward()   # accumulate, reduce at the last
    state, optim = full_state(model, optimizer)     # every process calls; CPU tensors
    totals = all_sum(torch.tensor([loss, tokens]))  # float64 sums over processes
    teardown()

Under `torchrun --nproc-per-node N` (or `accelerate launch`) the environment gives RANK,
WORLD_SIZE and LOCAL_RANK; GPUs use NCCL, CPUs gloo. Without it everything is a no-op on one
process, so a core runs the same code on a laptop and on a node.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup() -> Dist:
    """Join the process group torchrun describes (if any) and pick this process's device.

    Under torchrun there is a process group even for one process, so a single-process run
    wraps and shards as N processes do. Processes share GPUs when there are fewer GPUs than
    local processes (GPU local_rank mod count); NCCL refuses that, so such a run names another
    backend in MARGIN_DIST_BACKEND (gloo: a check of several processes on one GPU).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    launched = world > 1 or "TORCHELASTIC_RUN_ID" in os.environ
    if launched and not tdist.is_initialized():
        default = "nccl" if device.type == "cuda" else "gloo"
        tdist.init_process_group(os.environ.get("MARGIN_DIST_BACKEND") or default)
    rank = tdist.get_rank() if tdist.is_initialized() else 0
    return Dist(rank, world, local_rank, device)


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) of `setup()`, for cores that need only those."""
    dist = setup()
    return dist.rank, dist.world, dist.device


def initialized() -> bool:
    return tdist.is_available() and tdist.is_initialized()


def teardown() -> None:
    if initialized():
        tdist.barrier()
        tdist.destroy_process_group()


def barrier() -> None:
    if initialized():
        tdist.barrier()


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The blocks FSDP shards one by one: modules whose class a transformers model names in
    `_no_split_modules` (its decoder layers)."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    for module in model.modules():
        names |= set(getattr(module, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


def wrap(model: torch.nn.Module, dist: Dist, *, fsdp: bool = False) -> torch.nn.Module:
    """DDP over processes, or FSDP2 (`fully_shard` per decoder layer, then the root), or the
    model itself without a process group (one process not launched by torchrun). A frozen model
    (no parameter requires grad) is only sharded under FSDP and left whole under DDP."""
    if not initialized():
        return model
    if fsdp:
        from torch.distributed.fsdp import fully_shard

        for layer in decoder_layers(model):
            fully_shard(layer)
        fully_shard(model)
        return model
    if not any(p.requires_grad for p in model.parameters()):
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [dist.device.index] if dist.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (an FSDP2 module is its own module)."""
    return getattr(model, "module", model)


def is_sharded(model: torch.nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def full_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    everywhere: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model state, optimizer state), full, keyed by the unwrapped module's names. Under FSDP
    every process must call it (it gathers the shards).

    By default the tensors are on CPU and, under FSDP, only the process of rank 0 gets them
    (what saving needs). `everywhere=True`: every process gets the full tensors on the model's
    device (what a rollout engine in each process needs)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=not everywhere)
    if optimizer is None:
        return get_model_state_dict(model, options=options), {}
    return get_state_dict(model, optimizer, options=options)


def load_full_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    model_state: dict[str, Any],
    optim_state: dict[str, Any] | None = None,
) -> None:
    """Load what `full_state` returned (into a wrapped, sharded or plain model)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    if optimizer is None or optim_state is None:
        set_model_state_dict(model, model_state, options=options)
    else:
        set_state_dict(
            model,
            optimizer,
            model_state_dict=model_state,
            optim_state_dict=optim_state,
            options=options,
        )


def no_sync(model: torch.nn.Module, *, last: bool):
    """Context of one backward pass of a step that accumulates gradients over several: only
    the last reduces them over processes. DDP: `no_sync()` for the others. FSDP: sync off for
    the others and on again for the last (left off, no backward of the step would
    reduce-scatter). A no-op on one process."""
    if not initialized():
        return contextlib.nullcontext()
    if is_sharded(model):
        model.set_requires_gradient_sync(last)
        return contextlib.nullcontext()
    if last or not hasattr(model, "no_sync"):
        return contextlib.nullcontext()
    return model.no_sync()


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over processes (a copy; float64 on CPU for gloo and exact counts)."""
    out = values.detach().to("cpu", torch.float64).clone()
    if initialized():
        if tdist.get_backend() == "nccl":
            gpu = out.to(torch.device("cuda", torch.cuda.current_device()))
            tdist.all_reduce(gpu)
            return gpu.cpu()
        tdist.all_reduce(out)
    return out


def gather_objects(obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order (one element on a single process)."""
    if not initialized():
        return [obj]
    out: list[Any] = [None] * tdist.get_world_size()
    tdist.all_gather_object(out, obj)
    return out
