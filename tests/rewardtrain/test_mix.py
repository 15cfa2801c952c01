import random

import pytest

from rewardtrain.data import Pair
from rewardtrain.mix import build_mix, split_test


def _pairs(n: int, tag: str) -> list[Pair]:
    return [Pair([{"role": "user", "content": f"{tag}{i}"}], [], [], source=tag) for i in range(n)]


def _pools(h=300, s=200, o=150, a=100):
    return {
        "helpfulness": _pairs(h, "h"),
        "safety": _pairs(s, "s"),
        "open_source": _pairs(o, "o"),
        "harmless": _pairs(a, "a"),
    }


def test_helpfulness_mix_adds_an_equal_amount_from_safety_and_open_source():
    mixed, record = build_mix("helpfulness", _pools(), seed=1)
    used = record["used"]
    assert used["helpfulness"] == 300
    assert used["safety"] + used["open_source"] + used["harmless"] == 300
    assert len(mixed) == 600 == record["total"]
    # uniform over the 450 others: each pool in proportion to its size (loose bound)
    assert used["safety"] == pytest.approx(300 * 200 / 450, abs=30)


def test_helpfulness_mix_ratio_is_configurable():
    _, record = build_mix("helpfulness", _pools(), extra_ratio=0.5, seed=2)
    assert sum(record["used"].values()) == 450


def test_safety_mix_is_90_10():
    _, record = build_mix("safety", _pools(h=1000, s=500, o=500, a=400), seed=3)
    used = record["used"]
    safety = used["safety"] + used["harmless"]
    helpful = used["helpfulness"] + used["open_source"]
    assert safety == 900
    assert helpful / (safety + helpful) == pytest.approx(0.10, abs=1e-3)
    _, record = build_mix(
        "safety", _pools(h=1000, s=500, o=500, a=400), helpfulness_share=0.25, seed=3
    )
    used = record["used"]
    assert (used["helpfulness"] + used["open_source"]) / record["total"] == pytest.approx(0.25)


def test_mix_none_and_split_test():
    train, test = split_test(_pools(), test_pairs=1000, test_fraction=0.1)
    assert len(test["helpfulness"]) == pytest.approx(30, abs=15)
    assert len(test["helpfulness"]) + len(train["helpfulness"]) == 300
    train, test = split_test(_pools(h=20000), test_pairs=1000, test_fraction=0.1)
    assert len(test["helpfulness"]) == 1000
    mixed, record = build_mix("helpfulness", train, mix="none")
    assert len(mixed) == sum(len(p) for p in train.values())
    assert not {id(p) for p in mixed} & {id(p) for pairs in test.values() for p in pairs}


def _keys(pairs: list[Pair]) -> set[str]:
    return {p.prompt[0]["content"] for p in pairs}


@pytest.mark.parametrize("test_pairs", [1000, 300])
def test_a_pair_once_trained_on_never_joins_a_later_test_set(test_pairs):
    """5,000 pairs, then 500 more (shuffled in, as a new export orders rows its own way): no
    pair of the first model's training data is in the second model's test set, and below the
    cap (1,000) every first test pair stays held out."""
    before = {"helpfulness": _pairs(5000, "h")}
    grown = before["helpfulness"] + _pairs(500, "new")
    random.Random(7).shuffle(grown)
    train_1, test_1 = split_test(before, test_pairs=test_pairs, test_fraction=0.1)
    train_2, test_2 = split_test({"helpfulness": grown}, test_pairs=test_pairs, test_fraction=0.1)
    assert not _keys(train_1["helpfulness"]) & _keys(test_2["helpfulness"])
    assert len(test_1["helpfulness"]) == pytest.approx(min(500, test_pairs), abs=60)
    if test_pairs == 1000:
        assert _keys(test_1["helpfulness"]) <= _keys(test_2["helpfulness"])
        assert len(test_2["helpfulness"]) == pytest.approx(550, abs=60)
    else:
        assert len(test_2["helpfulness"]) == 300


def test_the_same_pair_lands_on_the_same_side_in_every_pool_and_copy():
    pairs = _pairs(400, "x")
    train, test = split_test({"helpfulness": pairs, "safety": list(pairs)}, 1000, 0.1)
    assert _keys(test["helpfulness"]) == _keys(test["safety"])
    assert [p.source for p in train["helpfulness"]] == ["x"] * len(train["helpfulness"])
