"""The loss is computed on response tokens only."""

import math

import pytest
import torch

from training_jobs.rlhf.finetune import collate, encode_example
from training_jobs.rlhf.loss import IGNORE_INDEX, response_labels, sft_loss, token_nll


def test_labels_mask_the_prompt():
    ids = torch.tensor([5, 6, 7, 8, 9])
    assert response_labels(ids, 3).tolist() == [IGNORE_INDEX] * 3 + [8, 9]


def test_hand_checked_loss_counts_only_response_tokens():
    # Vocabulary of 2; sequence of 4 tokens, prompt of 2 → only tokens 2 and 3 are scored,
    # predicted from positions 1 and 2.
    logits = torch.zeros(1, 4, 2)
    logits[0, 1] = torch.tensor([0.0, math.log(3.0)])  # p(token 1) = 3/4
    logits[0, 2] = torch.tensor([0.0, 0.0])  # p(token 0) = 1/2
    logits[0, 0] = torch.tensor([100.0, -100.0])  # a prompt position: must not count
    labels = response_labels(torch.tensor([1, 1, 1, 0]), 2).unsqueeze(0)
    expected = (-math.log(0.75) - math.log(0.5)) / 2
    assert sft_loss(logits, labels).item() == pytest.approx(expected, abs=1e-6)
    nll = token_nll(logits, labels)
    assert nll.shape == (1, 3) and nll[0, 0].item() == 0.0


def test_padding_does_not_count():
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor(
        [[IGNORE_INDEX, 3, 4, IGNORE_INDEX, IGNORE_INDEX], [IGNORE_INDEX, 1, 2, 3, 4]]
    )
    per_row = [sft_loss(logits[i : i + 1], labels[i : i + 1]).item() for i in range(2)]
    together = sft_loss(logits, labels).item()
    assert together == pytest.approx((per_row[0] * 2 + per_row[1] * 4) / 6, rel=1e-5)


def test_encoded_prompt_is_the_serving_prompt(default_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    prompt = [{"role": "user", "content": "Name a colour."}]
    ids, prompt_len = encode_example(tokenizer, prompt, "Blue.")
    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    assert tokenizer.decode(ids[:prompt_len]) == head
    assert tokenizer.decode(ids[prompt_len:]).startswith("Blue.<|im_end|>")
    input_ids, mask, labels = collate([(ids, prompt_len), ([1, 2], 1)], tokenizer.pad_token_id)
    assert labels[0, :prompt_len].eq(IGNORE_INDEX).all()
    assert labels[0, prompt_len:].tolist() == ids[prompt_len:]
    assert labels[1].tolist() == [IGNORE_INDEX, 2] + [IGNORE_INDEX] * (len(ids) - 2)
    assert mask[1].sum() == 2
