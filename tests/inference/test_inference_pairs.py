"""The pair-sampling policy: two different variants, varied temperature, a seed per sample."""

from __future__ import annotations

import pytest

from inference import ModelVariant, PairPolicy, plan_pairs, sample_pairs
from inference.params import SEED_MAX


def test_two_different_variants_when_configured():
    plan = plan_pairs(200, ["a", "b", "c"], PairPolicy(seed=1))
    assert all(a.variant != b.variant for a, b in plan)
    assert {s.variant for pair in plan for s in pair} == {"a", "b", "c"}
    firsts = [a.variant for a, _ in plan]
    assert 40 < firsts.count("a") < 100  # the A/B position is random too


def test_one_variant_gives_both_samples():
    plan = plan_pairs(5, ["only"], PairPolicy(seed=1))
    assert all(a.variant == b.variant == "only" for a, b in plan)


def test_every_sample_has_its_own_seed_and_a_temperature_in_range():
    policy = PairPolicy(temperature_range=(0.5, 1.3), top_p=0.8, max_tokens=32, seed=3)
    plan = plan_pairs(500, ["a", "b"], policy)
    seeds = [s.params.seed for pair in plan for s in pair]
    assert len(set(seeds)) == len(seeds) and all(0 <= x <= SEED_MAX for x in seeds)
    temps = [s.params.temperature for pair in plan for s in pair]
    assert all(0.5 <= t <= 1.3 for t in temps) and max(temps) - min(temps) > 0.6
    assert all(s.params.top_p == 0.8 and s.params.max_tokens == 32 for p in plan for s in p)


def test_plan_is_reproducible_from_the_policy_seed():
    assert plan_pairs(10, ["a", "b"], PairPolicy(seed=9)) == plan_pairs(
        10, ["a", "b"], PairPolicy(seed=9)
    )
    assert plan_pairs(10, ["a", "b"], PairPolicy(seed=9)) != plan_pairs(
        10, ["a", "b"], PairPolicy(seed=10)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature_range": (1.0, 0.5)},
        {"temperature_range": (0.5, 2.5)},
        {"top_p": 0},
        {"max_tokens": 0},
    ],
)
def test_bad_policy_is_refused(kwargs):
    with pytest.raises(ValueError):
        PairPolicy(**kwargs)


def test_bad_variants_are_refused():
    with pytest.raises(ValueError):
        ModelVariant("x", "http", model="m")  # no base_url
    with pytest.raises(ValueError):
        ModelVariant("")
    with pytest.raises(ValueError):
        plan_pairs(1, ["a", "a"], PairPolicy())


class Recording:
    """Passes calls through to the real backend and remembers what each variant was asked."""

    def __init__(self, backend):
        self.backend, self.model, self.calls = backend, backend.model, []

    def generate(self, conversations, params):
        self.calls.append(list(params))
        return self.backend.generate(conversations, params)

    def close(self):
        pass


def test_real_pairs_from_two_cpu_variants(cpu_backend):
    prompts = [
        [{"role": "user", "content": "Give me a tip for sleeping well."}],
        [{"role": "user", "content": "What is a prime number?"}],
        [{"role": "user", "content": "Suggest a name for a cat."}],
    ]
    backends = {"v1": Recording(cpu_backend), "v2": Recording(cpu_backend)}
    policy = PairPolicy(max_tokens=8, seed=5)
    pairs = sample_pairs(prompts, backends, policy, concurrent_variants=False)
    assert [p.index for p in pairs] == [0, 1, 2]
    plan = plan_pairs(3, ["v1", "v2"], policy)
    for pair, (a, b) in zip(pairs, plan, strict=True):
        assert {pair.a.variant, pair.b.variant} == {"v1", "v2"}
        assert (pair.a.variant, pair.b.variant) == (a.variant, b.variant)
        assert pair.a.completion.params == a.params and pair.b.completion.params == b.params
        for sample in (pair.a, pair.b):
            record = sample.record()
            assert record["text"].strip() and record["completion_tokens"] >= 1
            assert set(record) >= {
                "variant",
                "temperature",
                "top_p",
                "seed",
                "prompt_tokens",
                "completion_tokens",
                "seconds",
                "finish_reason",
                "dropped_turns",
            }
    # each variant got its three samples in one batched call
    assert [len(c) for c in backends["v1"].calls] == [3]
    assert [len(c) for c in backends["v2"].calls] == [3]


def test_a_variant_with_its_own_temperature_samples_at_it():
    policy = PairPolicy(temperature_range=(0.5, 1.3), seed=2, variant_temperatures={"cool": 0.6})
    plan = plan_pairs(50, ["cool", "warm"], policy)
    for pair in plan:
        by_variant = {s.variant: s.params.temperature for s in pair}
        assert by_variant["cool"] == 0.6 and 0.5 <= by_variant["warm"] <= 1.3
    with pytest.raises(ValueError):
        PairPolicy(variant_temperatures={"hot": 2.5})


def test_variants_sharing_one_loaded_model_are_generated_in_one_call(cpu_backend):
    shared = Recording(cpu_backend)
    prompts = [[{"role": "user", "content": f"Name a colour, {n}."}] for n in ("one", "two")]
    policy = PairPolicy(max_tokens=6, seed=4, variant_temperatures={"cool": 0.5, "warm": 1.1})
    pairs = sample_pairs(prompts, {"cool": shared, "warm": shared}, policy)
    assert [len(c) for c in shared.calls] == [4]  # both variants' samples, one batched call
    for pair in pairs:
        assert {pair.a.variant, pair.b.variant} == {"cool", "warm"}
        for sample in (pair.a, pair.b):
            expected = 0.5 if sample.variant == "cool" else 1.1
            assert sample.record()["temperature"] == expected
