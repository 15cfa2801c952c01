"""The pool keeps the best answer per prompt across iterations."""

import json

from training_jobs.rlhf.pool import pool_merge, prompt_key
from training_jobs.rlhf.reward import Reward
from training_jobs.rlhf.select import best_entries, read_pools


def entry(prompt: str, response: str, reward: float, source: str) -> dict:
    messages = [{"role": "user", "content": prompt}]
    return {
        "key": prompt_key(messages),
        "prompt": messages,
        "safety": False,
        "response": response,
        "reward": reward,
        "source": source,
    }


def test_best_per_prompt_over_three_iterations():
    v1 = [entry("a", "a1", 0.9, "v1"), entry("b", "b1", 0.2, "v1")]
    v2 = [entry("a", "a2", 0.4, "v2"), entry("c", "c2", 0.5, "v2")]
    v3 = [entry("b", "b3", 0.6, "v3"), entry("c", "c3", 0.1, "v3")]
    pool = pool_merge(v1, v2, v3)
    assert [(e["response"], e["source"]) for e in pool] == [
        ("a1", "v1"),  # an earlier iteration's answer stays when it is still the best
        ("b3", "v3"),
        ("c2", "v2"),
    ]


def test_tie_goes_to_the_newer_answer():
    pool = pool_merge([entry("a", "old", 0.5, "v1")], [entry("a", "new", 0.5, "v2")])
    assert [e["response"] for e in pool] == ["new"]


def test_prompt_key_is_the_messages_not_their_formatting():
    a = [{"role": "user", "content": "Hi"}]
    b = [{"content": "Hi", "role": "user", "extra": 1}]
    assert prompt_key(a) == prompt_key(b) != prompt_key([{"role": "user", "content": "Hi!"}])


def test_best_entries_pick_the_highest_routed_reward():
    samples = [
        {"key": "k", "prompt": [], "safety": False, "responses": ["x", "y", "z"]},
    ]
    rewards = [
        [
            Reward(0.9, 0.1, "safety"),  # helpful but unsafe: judged by R_s
            Reward(0.6, 0.8, "helpfulness"),
            Reward(0.5, 0.9, "helpfulness"),
        ]
    ]
    (best,) = best_entries(samples, rewards, "v1")
    assert best["response"] == "y" and best["reward"] == 0.6 and best["used"] == "helpfulness"


def test_read_pools_keeps_each_answer_once(tmp_path):
    first, second = tmp_path / "v1.jsonl", tmp_path / "v2.jsonl"
    a, b = entry("a", "a1", 0.9, "v1"), entry("b", "b2", 0.3, "v2")
    first.write_text(json.dumps(a) + "\n")
    second.write_text(json.dumps(a) + "\n" + json.dumps(b) + "\n")  # pools are cumulative
    assert [e["response"] for e in read_pools([str(first), str(second)])] == ["a1", "b2"]
