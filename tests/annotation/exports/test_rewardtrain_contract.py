"""The contract between Margin's exporter and the reward-model trainer: graded judgments
written by `export_write_file` arrive in `rewardtrain.data` with the margins of Table 27."""

import json

import pytest

from annotation.exports import ExportFilters, export_write_file
from config.artifacts import artifact_path
from rewardtrain.data import read_pairs, tokenize_pairs
from rewardtrain.grades import GRADES, MARGIN_TABLES, margin_for

from ..factories import JudgmentFactory, PairFactory

pytestmark = pytest.mark.django_db

HAND = {
    "none": [0.0, 0.0, 0.0, 0.0],
    "small": [1.0, 2 / 3, 1 / 3, 0.0],
    "large": [3.0, 2.0, 1.0, 0.0],
}


class WordTokenizer:
    """Whitespace tokens over a chat template of role and content: enough for tokenize_pairs
    to carry each pair's margin (the margins, not the tokens, are what this test checks)."""

    pad_token_id = 0

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        return " ".join(f"<{m['role']}> {m['content']}" for m in messages)

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[1 + len(word) for word in text.split()] for text in texts]}


@pytest.fixture
def judged(settings, tmp_path):
    settings.ARTIFACT_ROOT = tmp_path
    for grade in GRADES:
        JudgmentFactory(grade=grade, chosen="b")
    JudgmentFactory(pair=PairFactory(), grade=None, origin="imported")


@pytest.mark.parametrize("table", sorted(MARGIN_TABLES))
@pytest.mark.parametrize("fmt", ["trl", "full"])
def test_graded_rows_arrive_in_rewardtrain_with_their_margins(judged, table, fmt):
    assert [MARGIN_TABLES[table][g] for g in GRADES] == pytest.approx(HAND[table])
    relative = f"exports/{fmt}-{table}.jsonl"
    rows = export_write_file(
        filters=ExportFilters(), fmt=fmt, margin_table=table, relative_path=relative
    )
    path = artifact_path(relative)
    exported = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == len(exported) == len(GRADES) + 1

    pairs, counts = read_pairs(path)
    assert counts["pairs"] == len(exported)
    by_grade = {p.grade: p for p in pairs}
    assert set(by_grade) == {*GRADES, None}
    tokenized, dropped = tokenize_pairs(WordTokenizer(), pairs, None, table)
    assert dropped == 0
    arrived = {t.pair.grade: t.margin for t in tokenized}
    sent = {line["grade"] or None: line["margin"] for line in exported}  # TRL writes "" ungraded
    assert arrived == pytest.approx(sent)
    assert [arrived[g] for g in GRADES] == pytest.approx(HAND[table])
    assert arrived[None] == 0.0


def test_a_trl_line_without_its_grade_still_carries_its_margin(judged, tmp_path):
    """TRL's own trainer reads only "margin"; rewardtrain recovers the grade from it, so a
    file stripped to TRL's keys trains with the same margins. (Only for the small table: a
    large-table margin of 1 also reads as the small table's "significantly better".)"""
    table = "small"
    relative = f"exports/trl-{table}.jsonl"
    export_write_file(
        filters=ExportFilters(), fmt="trl", margin_table=table, relative_path=relative
    )
    lines = [json.loads(line) for line in artifact_path(relative).read_text().splitlines()]
    stripped = tmp_path / "margin-only.jsonl"
    keys = ("prompt", "chosen", "rejected", "margin")
    stripped.write_text("".join(json.dumps({k: x[k] for k in keys}) + "\n" for x in lines))
    pairs, _ = read_pairs(stripped)
    tokenized, _ = tokenize_pairs(WordTokenizer(), pairs, None, table)
    # margin 0 reads as ungraded (negligibly better and ungraded weigh the same in the loss)
    assert [t.pair.grade for t in tokenized if t.margin] == [
        x["grade"] for x in lines if x["margin"]
    ]
    assert [t.margin for t in tokenized] == pytest.approx([x["margin"] for x in lines])
    assert [t.margin for t in tokenized] == pytest.approx(
        [margin_for(x["grade"], table) for x in lines]
    )
