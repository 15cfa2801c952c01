"""Prompt and answer tokens into model inputs, and the forwards every PPO phase needs.

A micro-batch row is [prompt | answer | padding]: each sequence is contiguous from column 0 and
the rows are right-padded to the longest sequence, so a micro-batch of similar total lengths
(`by_length`) pads little even when its prompts and answers differ in length (padding prompts
on the left and answers on the right pads both to their own longest). The output that predicts
answer token t of a row whose prompt has p tokens sits at column p - 1 + t (`answer_columns`);
the forwards return (B, R) tensors aligned on answer tokens. Padding is found from lengths,
never from the pad id (a policy's pad token is often its EOS, and an EOS inside an answer is a
real token).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mlcore.heads import plain_output_head
from training_jobs.rlhf.ppo.head import head_logprobs
from training_jobs.rlhf.ppo.losses import entropy, token_logprobs


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T), T the longest prompt + answer
    attention_mask: torch.Tensor  # (B, T), 1 on real tokens
    position_ids: torch.Tensor  # (B, T)
    response: torch.Tensor  # (B, R) answer tokens, pad after each answer's end
    mask: torch.Tensor  # (B, R) float, 1.0 on real answer tokens
    prompt_lengths: torch.Tensor  # (B,) long

    def to(self, device) -> Batch:
        return Batch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.position_ids.to(device),
            self.response.to(device),
            self.mask.to(device),
            self.prompt_lengths.to(device),
        )

    def answer_columns(self) -> torch.Tensor:
        """(B, R) long: the column whose output predicts each answer token (the last column
        of the row on padding, masked out by `mask`)."""
        steps = torch.arange(self.response.shape[1], device=self.response.device)
        columns = self.prompt_lengths.unsqueeze(1) - 1 + steps
        return columns.clamp(max=self.input_ids.shape[1] - 1)


def collate(prompt_ids: list[list[int]], response_ids: list[list[int]], pad_id: int) -> Batch:
    """One micro-batch of (prompt, answer) token lists, each row right-padded to the longest
    prompt + answer; every prompt needs at least one token."""
    rows = len(prompt_ids)
    width = max(len(p) + len(r) for p, r in zip(prompt_ids, response_ids, strict=True))
    width_r = max(len(r) for r in response_ids)
    input_ids = torch.full((rows, width), pad_id, dtype=torch.long)
    attention = torch.zeros((rows, width), dtype=torch.long)
    response = torch.full((rows, width_r), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width_r))
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids, strict=True)):
        if not p:
            raise ValueError(f"row {i} has an empty prompt: nothing predicts its first token")
        input_ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        attention[i, : len(p) + len(r)] = 1
        response[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1.0
    positions = torch.arange(width).expand(rows, width).clone()
    lengths = torch.tensor([len(p) for p in prompt_ids], dtype=torch.long)
    return Batch(input_ids, attention, positions, response, mask, lengths)


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
    columns = batch.answer_columns()
    first = int(columns.min())  # the logits of the columns from the first one any row needs
    logits = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        logits_to_keep=batch.input_ids.shape[1] - first,
        use_cache=False,
    ).logits
    index = (columns - first).unsqueeze(-1).expand(-1, -1, logits.shape[-1])
    logits = logits.gather(1, index).float()  # (B, R, V)
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
    hidden = model.get_decoder()(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        use_cache=False,
    ).last_hidden_state
    real = batch.mask > 0
    rows = real.nonzero(as_tuple=True)[0]
    logprobs, entropies = head_logprobs(
        hidden[rows, batch.answer_columns()[real]], head.weight, batch.response[real], temperature
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
    return values.gather(1, batch.answer_columns()) * batch.mask


def pad_rows(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    """1-D tensors into a right-padded (B, width) tensor of zeros."""
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, row in enumerate(rows):
        out[i, : row.numel()] = row
    return out
