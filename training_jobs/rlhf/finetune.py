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
import torch.distributed as tdist

from mlcore import distributed
from mlcore.progress import Progress
from training_jobs.rlhf.config import FinetuneConfig, Training
from training_jobs.rlhf.loss import IGNORE_INDEX, response_labels, token_nll
from training_jobs.rlhf.pool import read_jsonl


def encode_example(tokenizer, prompt: list[dict[str, str]], response: str) -> tuple[list[int], int]:
    """Token ids of the chat-templated dialogue and how many of them are the prompt.

    The prompt part is the template with the generation prompt (the assistant header), so the
    trained tokens are exactly what the policy writes when serving: the answer and its
    end-of-turn token. What a template writes after that token (ChatML's newline) is cut off:
    generation stops at the end-of-turn token, so the policy never writes it.
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
    end_of_turn = tokenizer.eos_token_id
    if end_of_turn in ids[shared:]:
        ids = ids[: len(ids) - ids[::-1].index(end_of_turn)]
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

    dist = distributed.setup()
    device = dist.device
    tokenizer = AutoTokenizer.from_pretrained(policy)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    model = AutoModelForCausalLM.from_pretrained(policy, dtype=torch.float32).to(device)
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    examples = [encode_example(tokenizer, e["prompt"], e["response"]) for e in pool]
    kept = [x for x in examples if len(x[0]) <= cfg.max_length and len(x[0]) > x[1]]
    if not kept:
        raise SystemExit("no pool example fits --max-length")
    batch = min(cfg.batch_size, len(kept))
    if batch < dist.world:
        raise SystemExit(f"a batch of {batch} examples cannot be shared by {dist.world} processes")
    steps = max(1, math.ceil(cfg.epochs * len(kept) / batch))
    order: list[int] = []
    rng = random.Random(seed)
    while len(order) < steps * batch:
        epoch = list(range(len(kept)))
        rng.shuffle(epoch)
        order += epoch
    trained = distributed.wrap(model, dist, fsdp=cfg.fsdp)
    decay = [p for n, p in trained.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in trained.named_parameters() if p.ndim < 2]
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
        step_loss = _accumulate(trained, chosen, dist, cfg, pad_id, autocast)
        total = sum(len(ids) - prompt_len for ids, prompt_len in chosen)
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(trained.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss)
        tokens_trained += total
        stage.update(1, loss=step_loss, lr=lr)
    stage.close()
    seconds = time.perf_counter() - started
    state, _ = distributed.full_state(trained)  # every process: FSDP gathers the shards
    core = distributed.unwrap(trained)
    if cfg.gradient_checkpointing:
        core.gradient_checkpointing_disable()
    core.config.use_cache = True
    if dist.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        core.save_pretrained(out_dir, state_dict=state, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
    distributed.barrier()
    return {
        "examples": len(kept),
        "dropped_for_length": len(examples) - len(kept),
        "steps": steps,
        "batch_size": batch,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "response_tokens_trained": tokens_trained,
        "seconds": round(seconds, 1),
        "world_size": dist.world,
        "fsdp": distributed.is_sharded(trained),
        "gradient_checkpointing": cfg.gradient_checkpointing,
    }


def _accumulate(trained, chosen, dist, cfg: Training, pad_id: int, autocast) -> float:
    """Forward and backward this process's share of the step's examples (`chosen`, every
    world-th one from its rank) in micro-batches; return the step's loss over all processes.

    The loss is the sum of answer-token NLL over the whole step divided by its answer tokens.
    DDP and FSDP average gradients over processes, so each share is scaled by the world size;
    gradients are reduced in the last micro-batch only. Every process runs the same number of
    micro-batches (FSDP gathers each layer's weights in step): one whose share ran out runs
    its first example again with weight 0.
    """
    mine = chosen[dist.rank :: dist.world]
    total = sum(len(ids) - prompt_len for ids, prompt_len in chosen)
    count = math.ceil(math.ceil(len(chosen) / dist.world) / cfg.micro_batch)
    local = 0.0
    for k in range(count):
        piece = mine[k * cfg.micro_batch : (k + 1) * cfg.micro_batch]
        weight = 1.0 if piece else 0.0
        input_ids, mask, labels = collate(piece or mine[:1] or chosen[:1], pad_id)
        input_ids, mask, labels = (t.to(dist.device) for t in (input_ids, mask, labels))
        with distributed.no_sync(trained, last=k == count - 1):
            with autocast:
                logits = trained(input_ids=input_ids, attention_mask=mask).logits
            loss = token_nll(logits, labels).sum() * weight / total
            (loss * dist.world).backward()
        local += loss.item()
    return float(distributed.all_sum(torch.tensor([local]))[0])


def main(cfg: FinetuneConfig) -> dict[str, Any]:
    if not cfg.policy or not cfg.output_dir:
        raise SystemExit("finetune needs --policy and --output-dir")
    out_dir = Path(cfg.output_dir)
    with Progress({"finetune": 1}, bar=cfg.progress) as progress:
        metrics = train(
            cfg.policy, cfg.training, read_jsonl(cfg.pool), out_dir, progress, seed=cfg.seed
        )
    if not distributed.initialized() or tdist.get_rank() == 0:
        (out_dir / "finetune.json").write_text(json.dumps(metrics, indent=2) + "\n")
    distributed.teardown()
    return metrics
