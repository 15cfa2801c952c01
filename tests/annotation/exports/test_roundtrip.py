"""Real data: Anthropic HH harmless-base (dev) through the import command and back out."""

import gzip
import json
from dataclasses import replace

import pytest
from django.core.management import call_command

from mlcore.comparisons import parse_comparison
from tests.shared_data import HH_PATH as HH

pytestmark = pytest.mark.django_db
SIDES = ("chosen", "rejected")


def test_hh_import_then_trl_export_gives_back_the_source_texts(tmp_path):
    call_command("import_comparisons", str(HH), "--batch", "hh", "--stage", "safety")
    out = tmp_path / "trl.jsonl"
    call_command("export_comparisons", "--output", str(out), "--no-progress")

    source = [json.loads(line) for line in gzip.open(HH, "rt", encoding="utf-8")]
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(exported) == len(source) == 1624
    merged = 0
    for src, row in zip(source, exported, strict=True):
        assert row["margin"] == 0.0 and row["grade"] == "" and row["safety_bin"] == ""
        # The export reads back as the source reads, by the one reader the cores use too.
        read = parse_comparison(src)
        assert parse_comparison(row) == replace(read, stage="safety", margin=0.0)
        turns = [src[k].count("\n\nHuman:") + src[k].count("\n\nAssistant:") for k in SIDES]
        merged += max(turns) > len(read.prompt) + 1
    assert merged == 7  # HH lines with two turns of one role in a row, merged into one turn

    import datasets

    loaded = datasets.load_dataset("json", data_files=str(out), split="train")
    assert loaded.num_rows == 1624
    assert set(loaded.column_names) >= {"prompt", "chosen", "rejected", "margin"}
