"""Prompt and answer tokens into model inputs, and the forwards every PPO phase needs.

A micro-batch is laid out as [left-padded prompts | right-padded answers]: every answer starts
at the same column P, so the logits that predict answer token t sit at column P - 1 + t for
all rows. Padding is found from lengths, never from the pad id (a policy's pad token is often
its EOS, and an EOS inside an answer is a real token).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mlcore.heads import plain_output_head
from training_jobs.rlhf.ppo.head import head_logprobs
from training_jobs.rlhf.ppo.losses import entropy, token_logprobs


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, P + R)
    attention_mask: torch.Tensor  # (B, P + R), 1 on real tokens
    position_ids: torch.Tensor  # (B, P + R)
    response: torch.Tensor  # (B, R) answer tokens, pad after each answer's end
    mask: torch.Tensor  # (B, R) float, 1.0 on real answer tokens
    prompt_width: int  # P

    def to(self, device) -> Batch:
        return Batch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.position_ids.to(device),
            self.response.to(device),
            self.mask.to(device),
            self.prompt_width,
        )


def collate(prompt_ids: list[list[int]], response_ids: list[list[int]], pad_id: int) -> Batch:
    """One micro-batch of (prompt, answer) token lists, padded to its own widths."""
    rows = len(prompt_ids)
    width_p = max(len(p) for p in prompt_ids)
    width_r = max(len(r) for r in response_ids)
    input_ids = torch.full((rows, width_p + width_r), pad_id, dtype=torch.long)
    attention = torch.zeros((rows, width_p + width_r), dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids, strict=True)):
        input_ids[i, width_p - len(p) : width_p] = torch.tensor(p)
        input_ids[i, width_p : width_p + len(r)] = torch.tensor(r)
        attention[i, width_p - len(p) : width_p + len(r)] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    mask = attention[:, width_p:].float()
    return Batch(input_ids, attention, positions, input_ids[:, width_p:].clone(), mask, width_p)


def policy_forward(
    model, batch: Batch, temperature: float = 1.0, with_entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi(answer token) (B, R) and, if asked, the per-token entropy (B, R) (no gradient);
    0 on padding.

    Through the output head by vocabulary chunks (`head.py`) when the model is a whole causal
    LM whose head is a plain linear map in float32; otherwise from the logits of the R + 1 last
    positions (`logits_to_keep`): the same values up to float rounding.
    """
    head = plain_output_head(model)
    if head is None:
        return logits_forward(model, batch, temperature, with_entropy)
    return chunked_forward(model, head, batch, temperature, with_entropy)


def logits_forward(
    model, batch: Batch, temperature: float = 1.0, with_entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`policy_forward` through the model's own logits (any wrapper, sharding or precision)."""
    width_r = batch.response.shape[1]
    logits = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        logits_to_keep=width_r + 1,
        use_cache=False,
    ).logits[:, :-1]
    logits = logits.float()
    if temperature != 1.0:  # (B, R, V): a copy saved where it changes nothing
        logits = logits / temperature
    log_z = torch.logsumexp(logits, dim=-1)
    logprobs = token_logprobs(logits, batch.response, log_z) * batch.mask
    if not with_entropy:
        return logprobs, None
    with torch.no_grad():
        return logprobs, entropy(logits.detach(), log_z.detach()) * batch.mask


def chunked_forward(
    model, head: torch.nn.Linear, batch: Batch, temperature: float = 1.0, with_entropy=False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`policy_forward` from the decoder's last hidden states of the real answer tokens only,
    through `head` by vocabulary chunks."""
    width_r = batch.response.shape[1]
    hidden = model.get_decoder()(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        use_cache=False,
    ).last_hidden_state
    start = batch.prompt_width - 1
    real = batch.mask > 0
    logprobs, entropies = head_logprobs(
        hidden[:, start : start + width_r][real], head.weight, batch.response[real], temperature
    )

    def padded(values: torch.Tensor) -> torch.Tensor:  # (N,) back into (B, R), 0 on padding
        return values.new_zeros(batch.mask.shape).index_put((real,), values)

    return padded(logprobs), padded(entropies) if with_entropy else None


def by_length(indices: list[int], lengths: list[int]) -> list[int]:
    """`indices` ordered by their rows' lengths (stable), so that micro-batches cut from them
    pad little; sums over a mini-batch do not depend on how it is cut."""
    return sorted(indices, key=lambda i: lengths[i])


def value_forward(critic, batch: Batch) -> torch.Tensor:
    """V(s_t) (B, R): the critic at the position just before each answer token."""
    values = critic(batch.input_ids, batch.attention_mask, batch.position_ids)
    start = batch.prompt_width - 1
    return values[:, start : start + batch.response.shape[1]] * batch.mask


def pad_rows(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    """1-D tensors into a right-padded (B, width) tensor of zeros."""
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, row in enumerate(rows):
        out[i, : row.numel()] = row
    return out
