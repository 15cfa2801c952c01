"""Real data: Anthropic HH harmless-base (dev) through the import command and back out."""

import gzip
import json

import pytest
from django.core.management import call_command

from tests.shared_data import HH_PATH as HH

pytestmark = pytest.mark.django_db


def _render_hh(messages: list[dict]) -> str:
    tags = {"user": "Human", "assistant": "Assistant"}
    return "".join(f"\n\n{tags[m['role']]}: {m['content']}" for m in messages)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def test_hh_import_then_trl_export_gives_back_the_source_texts(tmp_path):
    call_command("import_comparisons", str(HH), "--batch", "hh", "--stage", "safety")
    out = tmp_path / "trl.jsonl"
    call_command("export_comparisons", "--output", str(out), "--no-progress")

    source = [json.loads(line) for line in gzip.open(HH, "rt", encoding="utf-8")]
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(exported) == len(source) == 1624
    for src, row in zip(source, exported, strict=True):
        assert row["margin"] == 0.0 and row["grade"] is None
        assert _normalise(_render_hh(row["prompt"] + row["chosen"])) == _normalise(src["chosen"])
        assert _normalise(_render_hh(row["prompt"] + row["rejected"])) == _normalise(
            src["rejected"]
        )

    import datasets

    loaded = datasets.load_dataset("json", data_files=str(out), split="train")
    assert loaded.num_rows == 1624
    assert set(loaded.column_names) >= {"prompt", "chosen", "rejected", "margin"}
