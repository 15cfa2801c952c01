"""Shared-context packing: each dialogue context is computed once for all its responses.

A packed row concatenates items; an item is one context followed by its responses, e.g. a
pair ``[context | chosen | rejected]``. Position ids restart at ``len(context)`` for every
response, and a block attention mask lets each response token see its item's context and the
earlier tokens of its own response only. Every response therefore gets exactly the hidden states
it would get in a separate forward of ``context + response``, with no padding and no second
copy of the context.

                 ctx   chosen  rejected
    ctx          causal   .       .
    chosen       all    causal    .
    rejected     all      .     causal
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from rewardtrain.data import TokenizedPair


@dataclass
class Item:
    """One context and its responses; ``indices[j]`` is response j's reward position in
    the full sequence ``context + responses[j]``. A filler item only keeps a rank in step with
    the others (see split_for_ranks): the trainer gives its loss weight 0."""

    context: list[int]
    responses: list[list[int]]
    indices: list[int]
    key: int = 0
    filler: bool = False

    @property
    def n_tokens(self) -> int:
        return len(self.context) + sum(len(r) for r in self.responses)

    @classmethod
    def from_pair(cls, pair: TokenizedPair, key: int = 0) -> Item:
        return cls(
            pair.context,
            [pair.chosen, pair.rejected],
            [pair.chosen_index, pair.rejected_index],
            key,
        )


@dataclass
class PackedRow:
    """A row of packed items, ready for the model (batch dimension 1).

    input_ids, position_ids: (1, L). item_ids, part_ids: (L,) which item and which part
    (0 = context, j + 1 = response j) each token belongs to. reward_index: (R,) row positions
    of the reward tokens of all responses, item by item. keys: the items' keys; n_responses:
    how many responses each item has; layout: each item's start, context length and response
    lengths (for attention item by item).
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    item_ids: torch.Tensor
    part_ids: torch.Tensor
    reward_index: torch.Tensor
    keys: list[int]
    n_responses: list[int]
    layout: list[tuple[int, int, tuple[int, ...]]]  # (start, context, response lengths)

    @property
    def n_tokens(self) -> int:
        return int(self.input_ids.shape[1])

    def attention_mask(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Mask (1, 1, L, L): see block_attention_mask."""
        return block_attention_mask(self.item_ids, self.part_ids, dtype)

    def to(self, device: torch.device | str) -> PackedRow:
        return PackedRow(
            self.input_ids.to(device),
            self.position_ids.to(device),
            self.item_ids.to(device),
            self.part_ids.to(device),
            self.reward_index.to(device),
            self.keys,
            self.n_responses,
            self.layout,
        )


def block_attention_mask(
    item_ids: torch.Tensor, part_ids: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Attention mask (1, 1, L, L) from per-token item ids and part ids, both (L,).

    Query q may attend to key k when both are in the same item, k is not after q, and k is in
    the context or in q's own response. With dtype bool: True where allowed (sdpa); otherwise
    additive: 0 where allowed and dtype's minimum elsewhere (eager attention too).
    """
    n = item_ids.shape[0]
    positions = torch.arange(n, device=item_ids.device)
    allowed = (item_ids[:, None] == item_ids[None, :]) & (positions[None, :] <= positions[:, None])
    allowed &= (part_ids[None, :] == 0) | (part_ids[None, :] == part_ids[:, None])
    if dtype == torch.bool:
        return allowed[None, None]
    mask = torch.zeros(n, n, dtype=dtype, device=item_ids.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None]


def pack_row(items: list[Item]) -> PackedRow:
    """Concatenate items into one row with restarted position ids."""
    ids: list[int] = []
    positions: list[int] = []
    item_ids: list[int] = []
    part_ids: list[int] = []
    reward_index: list[int] = []
    layout = []
    for n, item in enumerate(items):
        start = len(ids)
        layout.append((start, len(item.context), tuple(len(r) for r in item.responses)))
        c = len(item.context)
        ids += item.context
        positions += range(c)
        item_ids += [n] * c
        part_ids += [0] * c
        for j, (response, index) in enumerate(zip(item.responses, item.indices, strict=True)):
            response_start = len(ids)
            ids += response
            positions += range(c, c + len(response))
            item_ids += [n] * len(response)
            part_ids += [j + 1] * len(response)
            reward_index.append(start + index if index < c else response_start + index - c)
    return PackedRow(
        torch.tensor([ids], dtype=torch.long),
        torch.tensor([positions], dtype=torch.long),
        torch.tensor(item_ids, dtype=torch.long),
        torch.tensor(part_ids, dtype=torch.long),
        torch.tensor(reward_index, dtype=torch.long),
        [item.key for item in items],
        [len(item.responses) for item in items],
        layout,
    )


def plan_rows(items: list[Item], max_tokens: int) -> list[list[Item]]:
    """Group items into rows of at most max_tokens tokens (first-fit decreasing).

    An item longer than max_tokens gets a row of its own. Rows come out longest first.
    """
    rows: list[list[Item]] = []
    room: list[int] = []
    for item in sorted(items, key=lambda it: it.n_tokens, reverse=True):
        size = item.n_tokens
        for r, free in enumerate(room):
            if size <= free:
                rows[r].append(item)
                room[r] -= size
                break
        else:
            rows.append([item])
            room.append(max_tokens - size)
    return rows


def split_for_ranks(rows: list[list[Item]], world_size: int) -> list[list[list[Item]]]:
    """Deal rows to ranks so every rank gets the same number of rows (FSDP needs equal
    forward counts, DDP equal backward counts), splitting multi-item rows where the count does
    not divide evenly.

    When single-item rows still do not divide evenly (a batch of fewer pairs than ranks, e.g.
    the last partial batch of an epoch), rows of one filler item (a copy of the shortest item,
    ``filler=True``) make up the count; the trainer weights their loss 0.
    """
    rows = [list(r) for r in rows]
    while len(rows) % world_size:
        splittable = [r for r in rows if len(r) > 1]
        if not splittable:
            shortest = min((it for r in rows for it in r), key=lambda it: it.n_tokens)
            rows += [[replace(shortest, filler=True)]] * (-len(rows) % world_size)
            break
        row = max(splittable, key=lambda r: sum(it.n_tokens for it in r))
        rows.remove(row)
        half = len(row) // 2
        rows += [row[:half], row[half:]]
    rows.sort(key=lambda r: sum(it.n_tokens for it in r), reverse=True)
    shares: list[list[list[Item]]] = [[] for _ in range(world_size)]
    for n, row in enumerate(rows):
        lap, place = divmod(n, world_size)
        shares[place if lap % 2 == 0 else world_size - 1 - place].append(row)
    return shares
