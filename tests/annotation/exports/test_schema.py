"""Issue 13, case 05: every export has one schema across its rows, so `datasets.load_dataset
("json")` loads it whatever its size and row order: imported (ungraded, unlabelled) rows and
graded, labelled ones, either first, in a file larger than the reader's block."""

from __future__ import annotations

import io
import json

import pytest

from annotation.exports import ExportFilters, export_write_file
from annotation.imports import comparisons_import

from ..factories import BatchFactory, JudgmentFactory, PairFactory, ResponseFactory

pytestmark = pytest.mark.django_db
BLOCK = 64 << 10  # the json reader's block (`chunksize`); the files below are several blocks
FILLER = "The kettle is descaled with water and citric acid, then rinsed twice. " * 8


def _imported(n: int) -> None:
    lines = "".join(
        json.dumps(
            {
                "chosen": f"\n\nHuman: Copper pan, case {i}?\n\nAssistant: {FILLER}",
                "rejected": f"\n\nHuman: Copper pan, case {i}?\n\nAssistant: No idea.",
            }
        )
        + "\n"
        for i in range(n)
    )
    batch = BatchFactory(stage="safety")
    comparisons_import(batch=batch, stream=io.BytesIO(lines.encode()), filename="hh.jsonl")


def _graded(n: int) -> None:
    for i, grade in zip(range(n), ["better", "significantly_better", "slightly_better"] * n):
        pair = PairFactory(response_a=ResponseFactory(text=f"Use a soft cloth ({i}). {FILLER}"))
        JudgmentFactory(pair=pair, grade=grade, a_safe=True, b_safe=i % 2 == 0, rationale="ok")


def _signature(value):
    """The JSON type of a value, recursively (what a json reader infers a column from)."""
    if isinstance(value, dict):
        return {k: _signature(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_signature(value[0])] if value else []
    return type(value).__name__


@pytest.mark.parametrize("imported_first", [True, False])
@pytest.mark.parametrize("fmt", ["trl", "full"])
def test_every_export_loads_with_datasets_whatever_the_order(
    fmt, imported_first, settings, tmp_path, monkeypatch
):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings.ARTIFACT_ROOT = tmp_path
    steps = [lambda: _imported(300), lambda: _graded(3)]
    for step in steps if imported_first else steps[::-1]:
        step()
    rows = export_write_file(
        filters=ExportFilters(for_reward_model=False),
        fmt=fmt,
        margin_table="small",
        relative_path=f"exports/{fmt}.jsonl",
    )
    path = tmp_path / "exports" / f"{fmt}.jsonl"
    assert rows == 303 and path.stat().st_size > 3 * BLOCK
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    signatures = {json.dumps(_signature(r), sort_keys=True) for r in records}
    assert len(signatures) == 1, signatures  # every row: the same keys, the same JSON types
    assert not [k for r in records for k, v in r.items() if v is None]

    loaded = datasets.load_dataset(
        "json",
        data_files=str(path),
        split="train",
        chunksize=BLOCK,
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded.num_rows == 303
    grades = {row["grade"] for row in loaded}
    assert grades == {"", "better", "significantly_better", "slightly_better"}
    if fmt == "full":
        assert {row["chosen_safety"] for row in loaded} == {"", "safe"}
        assert {row["chosen_generation"]["seed"] >= 0 for row in loaded} == {True, False}
