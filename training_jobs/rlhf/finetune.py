"""Fine-tune the policy on the pool of best answers (the SFT step of rejection sampling).

    python -m training_jobs.rlhf finetune --pool out/pool.jsonl --policy policy/ \
        --output-dir out/ --epochs 2 --lr 2e-5

On a GPU node it trains on the GPU (bfloat16 autocast with --bf16); under `torchrun
--nproc-per-node N` (or `accelerate launch`) each process takes its share of every batch and
DDP sums the gradients, so N processes give the single-process result N times faster:

    torchrun --nproc-per-node 8 -m training_jobs.rlhf finetune --pool out/pool.jsonl ...

The loss is next-token cross-entropy on the answer's tokens only (loss.py). The output folder
is a plain transformers causal-LM checkpoint (safetensors, config, generation config,
tokenizer) that the transformers backend and vLLM load, plus finetune.json with the
fine-tuning metrics.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from mlcore.distributed import setup_distributed
from mlcore.progress import Progress
from training_jobs.rlhf.config import FinetuneConfig, Training
from training_jobs.rlhf.loss import IGNORE_INDEX, response_labels, token_nll
from training_jobs.rlhf.pool import read_jsonl


def encode_example(tokenizer, prompt: list[dict[str, str]], response: str) -> tuple[list[int], int]:
    """Token ids of the chat-templated dialogue and how many of them are the prompt.

    The prompt part is the template with the generation prompt (the assistant header), so the
    trained tokens are exactly what the policy writes when serving: the answer and its
    end-of-turn token.
    """
    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(
        prompt + [{"role": "assistant", "content": response}],
        tokenize=False,
        add_generation_prompt=False,
    )
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    shared = 0
    while shared < min(len(head_ids), len(ids)) and head_ids[shared] == ids[shared]:
        shared += 1
    return ids, shared


def collate(examples: list[tuple[list[int], int]], pad_id: int):
    """Right-padded input_ids, attention_mask and labels, each (B, T)."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for row, (ids, prompt_len) in enumerate(examples):
        t = torch.tensor(ids, dtype=torch.long)
        input_ids[row, : len(ids)] = t
        mask[row, : len(ids)] = 1
        labels[row, : len(ids)] = response_labels(t, prompt_len)
    return input_ids, mask, labels


def lr_at(step: int, total: int, peak: float, warmup: int, floor: float = 0.1) -> float:
    """Linear warm-up, then cosine decay from peak to floor * peak at the last step."""
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    span = max(total - warmup - 1, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    policy: str,
    cfg: Training,
    pool: list[dict[str, Any]],
    out_dir: Path,
    progress: Progress,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Fine-tune `policy` on the pool and save the new policy into out_dir; return metrics.

    Reports the stage "finetune" (one unit a step, with the step's loss and lr).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rank, world, device = setup_distributed()
    tokenizer = AutoTokenizer.from_pretrained(policy)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    model = AutoModelForCausalLM.from_pretrained(policy, dtype=torch.float32).to(device)
    model.config.use_cache = False
    examples = [encode_example(tokenizer, e["prompt"], e["response"]) for e in pool]
    kept = [x for x in examples if len(x[0]) <= cfg.max_length and len(x[0]) > x[1]]
    if not kept:
        raise SystemExit("no pool example fits --max-length")
    batch = min(cfg.batch_size, len(kept))
    if batch < world:
        raise SystemExit(f"a batch of {batch} examples cannot be shared by {world} processes")
    steps = max(1, math.ceil(cfg.epochs * len(kept) / batch))
    order: list[int] = []
    rng = random.Random(seed)
    while len(order) < steps * batch:
        epoch = list(range(len(kept)))
        rng.shuffle(epoch)
        order += epoch
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(0.9, 0.95),
        eps=1e-5,
    )
    autocast = torch.autocast(
        "cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda"
    )
    trained = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        trained = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    model.train()
    losses: list[float] = []
    started = time.perf_counter()
    tokens_trained = 0
    stage = progress.stage("finetune", total=steps)
    for step in range(steps):
        lr = lr_at(step, steps, cfg.lr, cfg.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        chosen = [kept[i] for i in order[step * batch : (step + 1) * batch]]
        step_loss = _accumulate(trained, chosen[rank::world], chosen, cfg, pad_id, device, autocast)
        total = sum(len(ids) - prompt_len for ids, prompt_len in chosen)
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)
        tokens_trained += total
        stage.update(1, loss=step_loss, lr=lr)
    stage.close()
    seconds = time.perf_counter() - started
    model.config.use_cache = True
    model.eval()
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
    if dist.is_initialized():
        dist.barrier()
    return {
        "examples": len(kept),
        "dropped_for_length": len(examples) - len(kept),
        "steps": steps,
        "batch_size": batch,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "response_tokens_trained": tokens_trained,
        "seconds": round(seconds, 1),
        "world_size": world,
    }


def _accumulate(trained, mine, chosen, cfg: Training, pad_id: int, device, autocast) -> float:
    """Forward and backward this process's share (`mine`) of the step's examples (`chosen`) in
    micro-batches; return the step's loss over all processes.

    The loss is the sum of answer-token NLL over the whole step divided by its answer tokens.
    DDP averages gradients over processes, so each share is scaled by the world size; only the
    last micro-batch synchronises.
    """
    import contextlib

    world = dist.get_world_size() if dist.is_initialized() else 1
    total = sum(len(ids) - prompt_len for ids, prompt_len in chosen)
    starts = range(0, len(mine), cfg.micro_batch)
    local = 0.0
    for start in starts:
        input_ids, mask, labels = collate(mine[start : start + cfg.micro_batch], pad_id)
        input_ids, mask, labels = input_ids.to(device), mask.to(device), labels.to(device)
        last = start == starts[-1]
        sync = contextlib.nullcontext() if last or world == 1 else trained.no_sync()
        with sync:
            with autocast:
                logits = trained(input_ids=input_ids, attention_mask=mask).logits
            loss = token_nll(logits, labels).sum() / total
            (loss * world).backward()
        local += loss.item()
    if world == 1:
        return local
    summed = torch.tensor([local], dtype=torch.float64, device=device)
    dist.all_reduce(summed)
    return float(summed.item())


def main(cfg: FinetuneConfig) -> dict[str, Any]:
    if not cfg.policy or not cfg.output_dir:
        raise SystemExit("finetune needs --policy and --output-dir")
    out_dir = Path(cfg.output_dir)
    with Progress({"finetune": 1}, bar=cfg.progress) as progress:
        metrics = train(
            cfg.policy, cfg.training, read_jsonl(cfg.pool), out_dir, progress, seed=cfg.seed
        )
    if not dist.is_initialized() or dist.get_rank() == 0:
        (out_dir / "finetune.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if dist.is_initialized():
        dist.destroy_process_group()
    return metrics
