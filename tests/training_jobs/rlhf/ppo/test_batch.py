"""Micro-batch layout: each row is [prompt | answer | padding], and a row's log-probs and
values in a padded micro-batch are those of the row alone."""

import pytest
import torch
from transformers import LlamaForSequenceClassification

from mlcore.tiny_models import causal_lm, llama_config, numbered_words, word_tokenizer
from training_jobs.rlhf.ppo.batch import collate, logits_forward, policy_forward, value_forward
from training_jobs.rlhf.ppo.critic import Critic

PROMPTS = [[5, 9, 11], [7, 8, 9, 10, 12, 40, 41, 42], [2999]]
ANSWERS = [[100, 200, 2500, 4], [301], [17, 18, 2998, 3, 3]]


def test_rows_are_contiguous_and_right_padded_to_the_longest_sequence():
    batch = collate(PROMPTS, ANSWERS, pad_id=0)

    assert batch.input_ids.shape == (3, 9)  # 8 + 1, not 8 + 5
    assert batch.input_ids[0].tolist() == [5, 9, 11, 100, 200, 2500, 4, 0, 0]
    assert batch.attention_mask[2].tolist() == [1] * 6 + [0] * 3
    assert batch.position_ids[1].tolist() == list(range(9))
    assert batch.response.tolist() == [[100, 200, 2500, 4, 0], [301, 0, 0, 0, 0], ANSWERS[2]]
    assert batch.mask.tolist() == [[1, 1, 1, 1, 0], [1, 0, 0, 0, 0], [1] * 5]
    # the output at column p - 1 + t predicts answer token t
    columns = batch.answer_columns()
    assert columns[0, :4].tolist() == [2, 3, 4, 5]
    assert columns[1, 0].item() == 7
    assert columns[2].tolist() == [0, 1, 2, 3, 4]
    for row in range(3):
        real = batch.mask[row] > 0
        assert (batch.input_ids[row, columns[row, real] + 1] == batch.response[row, real]).all()


def test_an_empty_prompt_is_refused():
    with pytest.raises(ValueError, match="row 1 has an empty prompt"):
        collate([[1], []], [[2], [3]], pad_id=0)


def _tokenizer():
    return word_tokenizer(numbered_words(3000))


@pytest.mark.parametrize("path", ["chunked", "logits"])
def test_a_rows_logprobs_in_a_micro_batch_are_those_of_the_row_alone(path):
    model = causal_lm(llama_config(_tokenizer()), seed=3)
    forward = policy_forward if path == "chunked" else logits_forward
    with torch.no_grad():
        together, entropies = forward(model, collate(PROMPTS, ANSWERS, 0), with_entropy=True)
        for row, (prompt, answer) in enumerate(zip(PROMPTS, ANSWERS, strict=True)):
            alone, alone_entropy = forward(model, collate([prompt], [answer], 0), with_entropy=True)
            n = len(answer)
            torch.testing.assert_close(together[row, :n], alone[0], atol=2e-5, rtol=1e-5)
            torch.testing.assert_close(entropies[row, :n], alone_entropy[0], atol=2e-5, rtol=1e-5)
            assert (together[row, n:] == 0).all()


def test_a_rows_values_in_a_micro_batch_are_those_of_the_row_alone():
    config = llama_config(_tokenizer())
    config.num_labels = 1
    torch.manual_seed(4)
    critic = Critic(LlamaForSequenceClassification(config))
    with torch.no_grad():
        together = value_forward(critic, collate(PROMPTS, ANSWERS, 0))
        for row, (prompt, answer) in enumerate(zip(PROMPTS, ANSWERS, strict=True)):
            alone = value_forward(critic, collate([prompt], [answer], 0))
            n = len(answer)
            torch.testing.assert_close(together[row, :n], alone[0], atol=2e-5, rtol=1e-5)
            assert (together[row, n:] == 0).all()
