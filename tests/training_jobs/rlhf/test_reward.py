"""The paper's routing: R_c = R_s if IS_SAFETY(p) or R_s < 0.15 else R_h (sigmoid scale)."""

import math

import pytest

from training_jobs.rlhf.reward import combined_reward, route, sigmoid


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_safety_prompt_uses_r_s_even_when_it_is_high():
    assert route(True, 0.99) == "safety"
    reward = combined_reward(True, helpfulness_raw=3.0, safety_raw=logit(0.9))
    assert reward.used == "safety" and reward.value == pytest.approx(0.9)


def test_helpfulness_prompt_with_low_safety_score_uses_r_s():
    assert route(False, 0.1499) == "safety"
    reward = combined_reward(False, helpfulness_raw=3.0, safety_raw=logit(0.05))
    assert reward.used == "safety" and reward.value == pytest.approx(0.05)


def test_helpfulness_prompt_with_safe_answer_uses_r_h():
    assert route(False, 0.5) == "helpfulness"
    reward = combined_reward(False, helpfulness_raw=0.0, safety_raw=logit(0.8))
    assert reward.used == "helpfulness" and reward.value == pytest.approx(0.5)


def test_boundary_exactly_at_threshold_is_not_below_it():
    assert route(False, 0.15) == "helpfulness"
    assert route(False, math.nextafter(0.15, 0.0)) == "safety"
    assert route(True, 0.15) == "safety"
    assert route(False, 0.3, threshold=0.4) == "safety"


def test_without_a_safety_model_everything_uses_r_h():
    assert route(True, None) == "helpfulness"
    reward = combined_reward(True, helpfulness_raw=logit(0.7), safety_raw=None)
    assert reward.used == "helpfulness" and reward.value == pytest.approx(0.7)
    assert reward.to_json()["safety"] is None


def test_sigmoid_is_the_paper_scale_and_does_not_overflow():
    assert sigmoid(0.0) == 0.5
    assert sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0
    assert sigmoid(logit(0.15)) == pytest.approx(0.15)
