import json

import pytest

from annotation.exports import ExportFilters, comparisons_export_lines, export_write_file
from annotation.grades import Grade
from config.artifacts import UnsafePath, artifact_path
from rewardtrain.grades import MARGIN_TABLES

from ..factories import BatchFactory, JudgmentFactory, PairFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("table", ["none", "small", "large"])
def test_margin_follows_the_papers_table(table):
    expected = {
        "none": [0, 0, 0, 0],
        "small": [1, 2 / 3, 1 / 3, 0],
        "large": [3, 2, 1, 0],
    }[table]
    for grade in Grade.values:
        JudgmentFactory(grade=grade)
    lines = comparisons_export_lines(filters=ExportFilters(), fmt="trl", margin_table=table)
    assert [json.loads(line)["margin"] for line in lines] == pytest.approx(expected)
    assert list(MARGIN_TABLES[table].values()) == pytest.approx(expected)


def test_trl_form_puts_the_chosen_response_first_whatever_its_slot():
    judgment = JudgmentFactory(chosen="b")
    row = json.loads(next(comparisons_export_lines(filters=ExportFilters(), fmt="trl")))
    assert row["chosen"][0]["content"] == judgment.pair.response_b.text
    assert row["rejected"][0]["content"] == judgment.pair.response_a.text
    assert row["prompt"] == judgment.pair.context


def test_full_form_keeps_provenance():
    judgment = JudgmentFactory(chosen="b", a_safe=False, b_safe=True, grade="slightly_better")
    row = json.loads(next(comparisons_export_lines(filters=ExportFilters(), fmt="full")))
    assert row["chosen_slot"] == "b"
    assert row["chosen_safety"] == "safe" and row["rejected_safety"] == "unsafe"
    assert row["safety_bin"] == "chosen_safe"
    assert row["chosen_generation"]["seed"] == judgment.pair.response_b.seed
    assert row["batch"] == judgment.pair.batch.name
    assert (
        row["annotator"].startswith("ann-")
        and str(judgment.annotator_id) not in row["annotator"][4:5]
    )


def test_filters_by_stage_and_batch():
    safety = BatchFactory(stage="safety")
    helpful = BatchFactory(stage="helpfulness")
    JudgmentFactory(pair=PairFactory(batch=safety))
    JudgmentFactory(pair=PairFactory(batch=helpful))
    assert len(list(comparisons_export_lines(filters=ExportFilters(stage="safety")))) == 1
    assert len(list(comparisons_export_lines(filters=ExportFilters(batch_ids=[helpful.pk])))) == 1


def test_export_file_is_written_under_the_artifact_root(settings, tmp_path):
    settings.ARTIFACT_ROOT = tmp_path
    JudgmentFactory.create_batch(2)
    rows = export_write_file(
        filters=ExportFilters(), fmt="trl", margin_table="small", relative_path="exports/x.jsonl"
    )
    assert rows == 2 and len((tmp_path / "exports" / "x.jsonl").read_text().splitlines()) == 2
    assert not [p for p in (tmp_path / "exports").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "exports/../../x"])
def test_paths_outside_the_artifact_root_are_refused(settings, tmp_path, path):
    settings.ARTIFACT_ROOT = tmp_path / "root"
    with pytest.raises(UnsafePath):
        artifact_path(path)
