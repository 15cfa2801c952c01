"""Train a reward model with the margin ranking loss on shared-context packed rows.

Single process (CPU or one GPU):

    python -m rewardtrain train --output-dir out/helpfulness --model CHAT_MODEL_DIR \\
        --data margin_export.jsonl.gz --open-source hh_helpful.jsonl.gz

Several GPUs (DDP; add --fsdp for models that do not fit one GPU):

    torchrun --nproc-per-node 8 -m rewardtrain train --output-dir ... --model ... --data ...
    accelerate launch -m rewardtrain train ...
"""

from __future__ import annotations

import json
import math
import random
import resource
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from mlcore import distributed
from mlcore.progress import Progress
from rewardtrain import checkpoint
from rewardtrain.config import TrainConfig
from rewardtrain.data import TokenizedPair, tokenize_pairs, write_pairs
from rewardtrain.evaluate import pair_metrics, score_pairs, table8
from rewardtrain.loss import pair_accuracy, pairwise_margin_loss
from rewardtrain.mix import build_mix, load_pools, split_test
from rewardtrain.model import (
    RewardModel,
    load_sequence_classifier,
    load_tokenizer,
    run_row,
    save_reward_model,
    uses_per_item,
)
from rewardtrain.packing import Item, pack_row, plan_rows, split_for_ranks


def warmup_steps(total: int, ratio: float, minimum: int) -> int:
    """Paper: 3% of the steps, at least 5; capped at half a (short) run."""
    return min(max(minimum, math.ceil(ratio * total)), total // 2)


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to min_ratio at the last step (step counts from 0)."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup - 1)
    progress = min(1.0, (step - warmup) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def prepare_data(cfg: TrainConfig, tokenizer) -> tuple[list[TokenizedPair], dict, dict]:
    """Training pairs (tokenized, in training order), test sets by pool, and their record."""
    pools, inputs = load_pools(cfg.data, cfg.open_source, cfg.harmless, cfg.default_stage)
    train_pools, test_pools = split_test(pools, cfg.test_pairs, cfg.test_fraction)
    mixed, mix_record = build_mix(
        cfg.reward_model,
        train_pools,
        cfg.mix,
        cfg.helpfulness_extra_ratio,
        cfg.safety_helpfulness_share,
        cfg.seed,
    )
    train, dropped = tokenize_pairs(tokenizer, mixed, cfg.max_length, cfg.margin)
    tests = {}
    for name, pairs in test_pools.items():
        if pairs:
            tests[name] = (pairs, *tokenize_pairs(tokenizer, pairs, cfg.max_length, cfg.margin))
    record = {
        "inputs": inputs,
        "mix": mix_record,
        "train_pairs": len(train),
        "train_dropped_too_long": dropped,
        "test_pairs": {name: len(t[1]) for name, t in tests.items()},
        "test_dropped_too_long": {name: t[2] for name, t in tests.items()},
    }
    return train, tests, record


def training_order(n: int, epochs: float, seed: int) -> list[int]:
    """Indices of the training pairs in visiting order: a fresh permutation per epoch."""
    rng = random.Random(seed + 1)
    wanted = round(epochs * n)
    order: list[int] = []
    while len(order) < wanted:
        epoch = list(range(n))
        rng.shuffle(epoch)
        order += epoch
    return order[:wanted]


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
    )


def train_step(
    model, batch: list[TokenizedPair], cfg: TrainConfig, rank: int, world: int, device, autocast
) -> dict[str, float]:
    """Forward and backward of one effective batch (all processes); gradients accumulate."""
    items = [Item.from_pair(p, i) for i, p in enumerate(batch)]
    shares = split_for_ranks(plan_rows(items, cfg.pack_tokens), world)
    mine = shares[rank]
    per_item = uses_per_item(cfg.attention, device, model)
    totals = torch.zeros(3, dtype=torch.float64)
    for n, row_items in enumerate(mine):
        row = pack_row(row_items).to(device)
        margin = torch.tensor([batch[k].margin for k in row.keys], device=device)
        weight = torch.tensor([0.0 if it.filler else 1.0 for it in row_items], device=device)
        last = n == len(mine) - 1
        with distributed.no_sync(model, last=last):
            with autocast:
                rewards = run_row(model, row, per_item).view(-1, 2)
            losses = pairwise_margin_loss(rewards[:, 0], rewards[:, 1], margin) * weight
            # Sum over pairs / pairs in the whole batch; DDP and FSDP average over ranks.
            (losses.sum() * world / len(batch)).backward()
        correct = pair_accuracy(rewards[:, 0], rewards[:, 1]) * weight
        totals += torch.tensor(
            [
                losses.detach().sum().item(),
                correct.sum().item(),
                sum(it.n_tokens for it in row_items if not it.filler),
            ],
            dtype=torch.float64,
        )
    totals = distributed.all_sum(totals)
    return {
        "loss": totals[0].item() / len(batch),
        "accuracy": totals[1].item() / len(batch),
        "tokens": totals[2].item(),
    }


@dataclass
class Run:
    """What `setup` prepares and the later phases share."""

    cfg: TrainConfig
    rank: int
    world: int
    device: torch.device
    out: Path
    tokenizer: Any
    train: list[TokenizedPair]
    tests: dict[str, tuple]
    data_record: dict[str, Any]
    model: torch.nn.Module  # wrapped for DDP/FSDP when world > 1
    core: RewardModel  # the unwrapped model
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    order: list[int]
    total: int
    warmup: int
    start: int
    autocast: Any
    train_seconds: float = 0.0
    pairs_done: int = 0

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"


def setup(cfg: TrainConfig) -> Run:
    """Processes, data (the mix, its held-out tests written out), model, optimizer, schedule,
    and the newest complete checkpoint when resuming."""
    if not cfg.output_dir or not cfg.model:
        raise ValueError("train needs output_dir and model")
    processes = distributed.setup()
    rank, world, device = processes.rank, processes.world, processes.device
    out = Path(cfg.output_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        checkpoint.prune_checkpoints(out / "checkpoints", cfg.keep_checkpoints)
    tokenizer = load_tokenizer(cfg.model)
    train_pairs, tests, data_record = prepare_data(cfg, tokenizer)
    if not train_pairs:
        raise ValueError("no training pairs: check the input files and the mix")
    if rank == 0:
        for name, (pairs, _, _) in tests.items():
            write_pairs(out / f"test_{name}.jsonl", pairs)

    torch.manual_seed(cfg.seed)
    model = RewardModel(load_sequence_classifier(cfg.model, tokenizer.pad_token_id)).to(device)
    model.train()
    model = distributed.wrap(model, processes, fsdp=cfg.fsdp)
    core: RewardModel = distributed.unwrap(model)
    optimizer = make_optimizer(model, cfg)

    order = training_order(len(train_pairs), cfg.epochs, cfg.seed)
    total = math.ceil(len(order) / cfg.batch_pairs)
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    warmup = warmup_steps(total, cfg.warmup_ratio, cfg.min_warmup_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, warmup, cfg.min_lr_ratio)
    )
    start = 0
    latest = checkpoint.latest_checkpoint(out / "checkpoints") if cfg.resume else None
    if latest is not None:
        saved = checkpoint.load_checkpoint(latest)
        distributed.load_full_state(model, optimizer, saved["model"], saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        start = saved["step"]
        del saved
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if cfg.bf16 and device.type == "cuda"
        else nullcontext()
    )
    return Run(
        cfg, rank, world, device, out, tokenizer, train_pairs, tests, data_record,
        model, core, optimizer, schedule, order, total, warmup, start, autocast,
    )  # fmt: skip


def train(run: Run) -> None:
    """The optimizer steps from `run.start` to `run.total`: one line a step in log.jsonl and
    the progress protocol ("train" stage: loss, accuracy, lr, pairs_per_s), and a resumable
    checkpoint every `save_every` steps."""
    cfg, batch_pairs = run.cfg, run.cfg.batch_pairs
    progress = Progress({"train": 1}, bar=cfg.progress)
    stage = progress.stage("train", total=run.total, initial=run.start)
    log = open(run.out / "log.jsonl", "a") if run.rank == 0 else None  # noqa: SIM115
    t0, tokens_done = time.perf_counter(), 0.0
    for step in range(run.start, run.total):
        batch = [run.train[i] for i in run.order[step * batch_pairs : (step + 1) * batch_pairs]]
        stats = train_step(run.model, batch, cfg, run.rank, run.world, run.device, run.autocast)
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
        stats["lr"] = run.optimizer.param_groups[0]["lr"]
        run.optimizer.step()
        run.schedule.step()
        run.optimizer.zero_grad(set_to_none=True)
        run.pairs_done += len(batch)
        tokens_done += stats["tokens"]
        elapsed = time.perf_counter() - t0
        stats.update(
            step=step + 1, pairs_per_s=run.pairs_done / elapsed, tokens_per_s=tokens_done / elapsed
        )
        if log:
            log.write(json.dumps(stats) + "\n")
            log.flush()
        stage.update(
            1,
            loss=stats["loss"],
            accuracy=stats["accuracy"],
            lr=stats["lr"],
            pairs_per_s=stats["pairs_per_s"],
        )
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < run.total:
            save_checkpoint(run, step + 1)
    run.train_seconds = time.perf_counter() - t0
    progress.close()
    if log:
        log.close()


def save_checkpoint(run: Run, step: int) -> None:
    """A resumable checkpoint (model, optimizer, schedule, step); the oldest are pruned."""
    model_state, optim_state = distributed.full_state(run.model, run.optimizer)
    if run.rank == 0:
        state = {
            "model": model_state,
            "optimizer": optim_state,
            "schedule": run.schedule.state_dict(),
            "step": step,
            "config": asdict(run.cfg),
        }
        checkpoint.save_checkpoint(run.checkpoints, step, state)
        checkpoint.prune_checkpoints(run.checkpoints, run.cfg.keep_checkpoints)
    distributed.barrier()


def save(run: Run) -> dict[str, Any]:
    """Measure the held-out tests, then write the reward model folder (safetensors, config,
    tokenizer, rewardtrain.json) and metrics.json with its Table 8; return the metrics."""
    cfg = run.cfg
    metrics: dict[str, Any] = {}
    for name, (_, tokenized, dropped) in run.tests.items():
        chosen, rejected = score_pairs(
            run.core, tokenized, cfg.pack_tokens, run.device, run.autocast, cfg.attention
        )
        pairs = [t.pair for t in tokenized]
        metrics[name] = pair_metrics(chosen, rejected, pairs, dropped_too_long=dropped)
    model_state, _ = distributed.full_state(run.model, run.optimizer)
    if run.rank == 0:
        state = {k.removeprefix("classifier."): v for k, v in model_state.items()}
        seconds = run.train_seconds
        metadata = {
            "reward_model": cfg.reward_model,
            "config": asdict(cfg),
            "data": run.data_record,
            "steps": run.total,
            "resumed_from_step": run.start,
            "warmup_steps": run.warmup,
            "world_size": run.world,
            "fsdp": distributed.is_sharded(run.model),
            "train_seconds": seconds,
            "pairs_per_s": run.pairs_done / seconds if seconds else None,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        save_reward_model(
            run.core.classifier, run.tokenizer, run.out, state_dict=state, metadata=metadata
        )
        report = {
            "metrics": {cfg.reward_model: metrics},
            "table8": table8({cfg.reward_model: metrics}),
        }
        (run.out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    return metrics


def finish(run: Run) -> None:
    """Wait until every process is done (rank 0 has written the folder)."""
    distributed.barrier()


def main(cfg: TrainConfig) -> dict[str, Any]:
    """Train, save the reward model folder and its metrics; return the metrics."""
    run = setup(cfg)
    train(run)
    metrics = save(run)
    finish(run)
    return metrics
