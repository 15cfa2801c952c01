import gzip
import json

import pytest

from rewardtrain.data import DataError, read_pairs, split_shared, tokenize_pairs
from tests.rewardtrain.helpers import write_jsonl
from tests.shared_data import HH_PATH

MSG = [{"role": "user", "content": "Hi?"}]
A = [{"role": "assistant", "content": "Hello!"}]
B = [{"role": "assistant", "content": "Go away."}]


def test_reads_hh_gz_into_context_and_final_turns(hh_pairs):
    _, counts = read_pairs(HH_PATH)
    assert counts["lines"] == 1624
    assert counts["pairs"] + counts["skipped_identical_responses"] == 1624
    pair = hh_pairs[0]
    assert pair.prompt[0]["role"] == "user" and pair.prompt[-1]["role"] == "user"
    assert pair.chosen[0]["role"] == pair.rejected[0]["role"] == "assistant"
    assert pair.grade is None


def test_reads_trl_and_full_forms_plain_and_gz(tmp_path):
    trl = {"prompt": MSG, "chosen": A, "rejected": B, "margin": 2 / 3, "stage": "helpfulness"}
    full = {
        "prompt": MSG,
        "chosen": A,
        "rejected": B,
        "grade": "significantly_better",
        "stage": "safety",
        "safety_bin": None,
        "chosen_safe": True,
        "rejected_safe": False,
        "batch": 3,
        "variants": ["a", "b"],
        "rationale": "ignored",
    }
    excluded = dict(full, chosen_safe=False, rejected_safe=True)
    ungraded = {"prompt": MSG, "chosen": A, "rejected": B, "margin": 0.0}
    path = tmp_path / "export.jsonl.gz"
    with gzip.open(path, "wt") as f:
        for r in (trl, full, excluded, ungraded):
            f.write(json.dumps(r) + "\n\n")
    pairs, counts = read_pairs(path)
    assert counts["excluded_chosen_unsafe"] == 1 and len(pairs) == 3
    assert pairs[0].grade == "better"
    assert pairs[1].grade == "significantly_better"
    assert pairs[1].safety_bin == "chosen_safe" and pairs[1].rejected_safe is False
    assert pairs[2].grade is None
    plain, _ = read_pairs(write_jsonl(tmp_path / "plain.jsonl", [trl]))
    assert plain[0].chosen == A


def test_bad_line_names_its_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt": MSG, "chosen": A, "rejected": B}) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        read_pairs(path)
    write_jsonl(path, [{"prompt": MSG, "chosen": A, "rejected": B, "grade": "huge"}])
    with pytest.raises(DataError, match=r"bad.jsonl:1: unknown grade"):
        read_pairs(path)


def test_split_shared_rebuilds_both_sequences():
    context, chosen, rejected = split_shared([1, 2, 3, 4], [1, 2, 5])
    assert context == [1, 2] and chosen == [3, 4] and rejected == [5]
    context, chosen, rejected = split_shared([1, 2], [1, 2, 3])
    assert context + chosen == [1, 2] and context + rejected == [1, 2, 3] and chosen


def test_tokenize_uses_chat_template_and_keeps_grade(tokenizer, hh_pairs):
    tokenized, dropped = tokenize_pairs(tokenizer, hh_pairs[:20], max_length=1024)
    assert dropped == 0 and len(tokenized) == 20
    for t in tokenized:
        full = tokenizer.apply_chat_template(
            t.pair.prompt + t.pair.chosen, tokenize=False, add_generation_prompt=False
        )
        assert tokenizer.decode(t.context + t.chosen) == full
        assert t.chosen_index == len(t.context) + len(t.chosen) - 1
    short, dropped = tokenize_pairs(tokenizer, hh_pairs[:20], max_length=100)
    assert dropped == 20 - len(short) > 0
