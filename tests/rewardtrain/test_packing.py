"""The shared-context forward equals two separate forwards (rewards and gradients)."""

import pytest
import torch

from rewardtrain.data import tokenize_pairs
from rewardtrain.model import RewardModel, load_sequence_classifier, run_row
from rewardtrain.packing import Item, pack_row, plan_rows, split_for_ranks


def _separate(classifier, pairs):
    """Reference: transformers' own forward of each full dialogue, one at a time."""
    out = []
    for p in pairs:
        chosen = classifier(torch.tensor([p.context + p.chosen])).logits[0, 0]
        rejected = classifier(torch.tensor([p.context + p.rejected])).logits[0, 0]
        out.append(torch.stack([chosen, rejected]))
    return torch.stack(out)


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_mask_blocks_chosen_from_rejected():
    row = pack_row([Item([1, 2], [[3, 4], [5]], [3, 2])])
    mask = row.attention_mask(torch.bool)[0, 0]
    assert row.position_ids.tolist() == [[0, 1, 2, 3, 2]]
    assert mask[4].tolist() == [True, True, False, False, True]
    assert mask[3].tolist() == [True, True, True, True, False]
    assert row.reward_index.tolist() == [3, 4]


@pytest.mark.parametrize("per_item", [False, True], ids=["dense-mask", "per-item"])
def test_shared_context_matches_separate_forwards_on_hh(tiny_dir, tokenizer, hh_pairs, per_item):
    """The dense block mask and attention item by item both give transformers' own rewards
    and gradients (the tiny Llama has grouped key/value heads, as SmolLM2 does)."""
    pairs, _ = tokenize_pairs(tokenizer, hh_pairs[:6], max_length=1024)
    torch.manual_seed(0)
    classifier = load_sequence_classifier(tiny_dir, tokenizer.pad_token_id)
    model = RewardModel(classifier)
    weights = torch.randn(len(pairs), 2)

    reference = _separate(classifier, pairs)
    (reference * weights).sum().backward()
    reference_grads = _grads(classifier)
    classifier.zero_grad()

    # All six pairs in one packed row, and also spread over two rows.
    for budget in (100_000, 700):
        rows = plan_rows([Item.from_pair(p, i) for i, p in enumerate(pairs)], budget)
        rewards = torch.zeros(len(pairs), 2)
        for row_items in rows:
            row = pack_row(row_items)
            r = run_row(model, row, per_item).view(-1, 2)
            (r * weights[row.keys]).sum().backward()
            rewards[row.keys] = r.detach()
        assert torch.allclose(rewards, reference.detach(), atol=1e-5, rtol=1e-4)
        grads = _grads(classifier)
        assert grads.keys() == reference_grads.keys()
        for name, grad in grads.items():
            assert torch.allclose(grad, reference_grads[name], atol=1e-5, rtol=1e-3), name
        classifier.zero_grad()


def test_shared_context_matches_with_smollm2_weights(smol_dir, tokenizer, hh_pairs):
    """Float additive mask (eager-compatible) and attention item by item, real weights."""
    short = sorted(
        hh_pairs[:40], key=lambda p: len(str(p.prompt) + str(p.chosen) + str(p.rejected))
    )
    pairs, _ = tokenize_pairs(tokenizer, short[:1], max_length=1024)
    torch.manual_seed(0)
    classifier = load_sequence_classifier(smol_dir, tokenizer.pad_token_id)
    model = RewardModel(classifier)
    with torch.no_grad():
        reference = _separate(classifier, pairs)
        row = pack_row([Item.from_pair(p, i) for i, p in enumerate(pairs)])
        mask = row.attention_mask()
        packed = model(row.input_ids, row.position_ids, mask, row.reward_index).view(-1, 2)
        per_item = run_row(model, row, per_item=True).view(-1, 2)
    assert torch.allclose(packed, reference, atol=1e-4)
    assert torch.allclose(per_item, reference, atol=1e-4)


def test_rows_respect_budget_and_ranks_get_equal_rows():
    items = [
        Item([0] * n, [[1] * 3, [2] * 4], [n + 2, n + 3], k) for k, n in enumerate(range(1, 30))
    ]
    rows = plan_rows(items, 64)
    assert sorted(it.key for r in rows for it in r) == list(range(29))
    assert all(sum(it.n_tokens for it in r) <= 64 for r in rows)
    shares = split_for_ranks(rows, 4)
    assert len({len(s) for s in shares}) == 1
    assert sorted(it.key for s in shares for r in s for it in r) == list(range(29))


def test_a_batch_smaller_than_the_ranks_gets_filler_rows():
    """The last, partial batch of an epoch: 3 pairs over 4 ranks."""
    items = [Item([0] * n, [[1] * 3, [2] * 4], [n + 2, n + 3], k) for k, n in enumerate((5, 2, 9))]
    shares = split_for_ranks(plan_rows(items, 1024), 4)
    assert [len(s) for s in shares] == [1, 1, 1, 1]
    rows = [r for s in shares for r in s]
    assert sorted(it.key for r in rows for it in r if not it.filler) == [0, 1, 2]
    fillers = [it for r in rows for it in r if it.filler]
    assert len(fillers) == 1 and fillers[0].context == [0, 0]
    assert not any(it.filler for it in items)


def test_auto_attention_goes_item_by_item_for_wide_models_on_the_cpu():
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from rewardtrain.model import uses_per_item

    def model(width: int) -> RewardModel:
        config = LlamaConfig(
            vocab_size=32, hidden_size=width, intermediate_size=8, num_hidden_layers=1,
            num_attention_heads=8, num_key_value_heads=8, num_labels=1,
        )  # fmt: skip
        return RewardModel(LlamaForSequenceClassification(config))

    wide, narrow = model(576), model(64)
    assert uses_per_item("auto", "cpu", wide) and not uses_per_item("auto", "cpu", narrow)
    assert not uses_per_item("auto", "cuda", wide)
    assert uses_per_item("per_item", "cuda", narrow) and not uses_per_item("dense", "cpu", wide)
