"""R_c for PPO: the paper's routing on raw scores, shares of a known batch, and each reward
model reading the answer with its own tokenizer."""

import math

import pytest

from training_jobs.rlhf.ppo.rewards import reason_counts, routing_shares, score_answers
from training_jobs.rlhf.reward import RewardModels, route, routed_raw


def logit(p: float) -> float:
    return math.log(p / (1 - p))


BATCH = [  # (safety prompt, raw R_h, raw R_s) → (routed raw R_c, reason)
    ((True, 2.0, 3.0), (3.0, "safety_flag")),  # a safety prompt takes R_s however safe
    ((False, 2.0, logit(0.10)), (logit(0.10), "threshold")),  # sigmoid(R_s) < 0.15
    ((False, 2.0, 0.0), (2.0, "helpfulness")),
    ((False, -1.0, logit(0.2)), (-1.0, "helpfulness")),
    ((True, 1.0, -30.0), (-30.0, "safety_flag")),  # raw, not a saturated sigmoid
    ((False, 5.0, 40.0), (5.0, "helpfulness")),
]


def test_routing_of_a_known_batch_and_its_shares():
    routed = [routed_raw(*case) for case, _ in BATCH]
    for (value, reason), (_, (expected_value, expected_reason)) in zip(routed, BATCH, strict=True):
        assert reason == expected_reason and value == pytest.approx(expected_value)
    counts = reason_counts([reason for _, reason in routed])
    assert counts.tolist() == [2, 1, 3]
    assert routing_shares(counts) == pytest.approx(
        {"routed_safety_flag": 2 / 6, "routed_threshold": 1 / 6, "routed_helpfulness": 3 / 6}
    )


def test_ppo_and_rejection_sampling_route_alike():
    """One rule: the reward model rejection sampling selects by is the one PPO optimises."""
    from training_jobs.rlhf.reward import sigmoid

    for (flag, h, s), (_, reason) in BATCH:
        used = route(flag, sigmoid(s))
        assert (used == "safety") == (reason != "helpfulness")


def test_without_a_safety_model_everything_is_r_h():
    assert routed_raw(True, 1.5, None) == (1.5, "helpfulness")


def test_each_reward_model_reads_the_text_with_its_own_tokenizer(tmp_path, tiny_setup):
    """A reward model with SmolLM2's tokenizer scores the word-tokenizer policy's answers
    exactly as `python -m rewardtrain score` scores the same dialogues."""
    from rewardtrain.model import RewardModel, load_sequence_classifier, load_tokenizer
    from rewardtrain.score import score_records
    from tests.rewardtrain.helpers import make_tiny_llama
    from tests.training_jobs.rlhf.ppo.helpers import reward_model_folder

    smol = load_tokenizer_of_default_model()
    other = reward_model_folder(tmp_path / "rm-smol", make_tiny_llama(tmp_path / "base", smol))
    models = RewardModels(str(other), str(tiny_setup["safety"]))
    prompts = [[{"role": "user", "content": "apple river stone"}]] * 2
    texts = ["the river is very quiet", "kill the apple"]
    scored = score_answers(models, prompts, texts, [False, True], [False, True], 0.5)

    tokenizer = load_tokenizer(other)
    model = RewardModel(load_sequence_classifier(other, tokenizer.pad_token_id)).eval()
    records = [
        {"prompt": p, "response": [{"role": "assistant", "content": t}]}
        for p, t in zip(prompts, texts, strict=True)
    ]
    expected = [s[0] for s in score_records(model, tokenizer, records, 2048)]
    assert scored.helpfulness == pytest.approx(expected, abs=1e-5)
    assert scored.reasons[1] == "safety_flag"
    assert float(scored.raw[1]) == pytest.approx(scored.safety[1] - 0.5, abs=1e-5)


def load_tokenizer_of_default_model():
    from inference.default_model import ensure_default_model
    from rewardtrain.model import load_tokenizer

    return load_tokenizer(ensure_default_model())
