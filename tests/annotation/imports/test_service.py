import gzip
import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotation.imports import ImportFailed, comparisons_import, prompts_import
from annotation.models import Judgment, Prompt, ResponsePair

from ..factories import BatchFactory, PromptFactory

pytestmark = pytest.mark.django_db


def _jsonl(*records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _import_prompts(data: bytes, filename: str = "prompts.jsonl", batch=None):
    batch = batch or BatchFactory()
    return prompts_import(batch=batch, stream=io.BytesIO(data), filename=filename)


GOOD = {"id": "p1", "prompt": "How do I bake bread?"}

BAD_PROMPT_FILES = [
    ("bad JSON", _jsonl(GOOD) + b'{"id": "p2", "prompt": "x"\n', 2, ""),
    ("missing field", _jsonl(GOOD, {"id": "p2", "risk_category": "x"}), 2, "prompt"),
    ("empty text", _jsonl(GOOD, {"id": "p2", "prompt": "   "}), 2, "prompt"),
    ("too long", _jsonl(GOOD, {"id": "p2", "prompt": "x" * 40_000}), 2, "prompt"),
    ("wrong encoding", _jsonl(GOOD) + '{"prompt": "café"}\n'.encode("cp1252"), 2, ""),
    ("duplicate ids", _jsonl(GOOD, {"id": "p1", "prompt": "again"}), 2, "id"),
    ("NUL byte", _jsonl(GOOD) + b'{"prompt": "a\x00b"}\n', 2, ""),
    ("truncated last line", _jsonl(GOOD) + b'{"id": "p2", "prom', 2, ""),
    ("not an object", _jsonl(GOOD) + b"[1, 2]\n", 2, ""),
    ("bad role", _jsonl(GOOD, {"messages": [{"role": "robot", "content": "hi"}]}), 2, "role"),
    ("ends with assistant", _jsonl({"messages": [{"role": "assistant", "content": "x"}]}), 1, ""),
    ("mixed schema", _jsonl(GOOD, {"chosen": "a", "rejected": "b"}), 2, "prompt"),
]


@pytest.mark.parametrize(("case", "data", "line", "field"), BAD_PROMPT_FILES)
def test_bad_prompt_file_imports_nothing_and_names_the_line(case, data, line, field):
    with pytest.raises(ImportFailed) as failure:
        _import_prompts(data)
    error = failure.value.errors[0]
    assert error.line == line, case
    assert field in error.field, case
    assert f"line {line}" in str(failure.value)
    assert Prompt.objects.count() == 0


def test_bad_line_after_a_full_chunk_still_rolls_everything_back():
    records = [{"id": f"p{i}", "prompt": f"Question {i}"} for i in range(4500)]
    data = _jsonl(*records) + b"{broken\n"
    with pytest.raises(ImportFailed) as failure:
        _import_prompts(data)
    assert failure.value.errors[0].line == 4501
    assert Prompt.objects.count() == 0


def test_id_already_in_the_batch_is_refused():
    batch = BatchFactory()
    PromptFactory(batch=batch, external_id="p1")
    with pytest.raises(ImportFailed) as failure:
        _import_prompts(_jsonl({"id": "p0", "prompt": "a"}, GOOD), batch=batch)
    assert failure.value.errors[0].line == 2
    assert Prompt.objects.count() == 1


def test_disallowed_extension_is_refused():
    with pytest.raises(ImportFailed, match="must be one of"):
        _import_prompts(_jsonl(GOOD), filename="prompts.html")


def test_empty_file_is_refused():
    with pytest.raises(ImportFailed, match="no records"):
        _import_prompts(b"\n\n")


def test_jsonl_with_messages_bom_and_gzip():
    records = [
        {
            "id": 7,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
        },
        {"text": "Single turn", "risk_category": "illicit", "attack_vector": "role play"},
    ]
    data = gzip.compress(b"\xef\xbb\xbf" + _jsonl(*records))
    result = _import_prompts(data, filename="p.jsonl.gz")
    assert result.created == 2
    first, second = Prompt.objects.order_by("id")
    assert first.external_id == "7" and first.messages[0]["role"] == "system"
    assert second.messages == [{"role": "user", "content": "Single turn"}]
    assert second.risk_category == "illicit"


def test_csv_with_quoted_newlines_and_extra_columns():
    data = '\ufeffid,prompt,topic\nq1,"Line one\nline two",cooking\nq2,Plain,\n'.encode()
    result = _import_prompts(data, filename="prompts.csv")
    assert result.created == 2
    first = Prompt.objects.get(external_id="q1")
    assert first.messages[0]["content"] == "Line one\nline two"
    assert first.metadata == {"topic": "cooking"}


def test_csv_bad_row_reports_its_physical_line():
    data = b'id,prompt\nq1,"multi\nline"\nq2,\n'
    with pytest.raises(ImportFailed) as failure:
        _import_prompts(data, filename="prompts.csv")
    assert failure.value.errors[0].line == 4
    assert Prompt.objects.count() == 0


def test_many_errors_are_reported_not_just_the_first():
    data = _jsonl(*[{"id": str(i), "prompt": ""} for i in range(30)])
    with pytest.raises(ImportFailed) as failure:
        _import_prompts(data)
    assert len(failure.value.errors) == 20
    assert [e.line for e in failure.value.errors[:3]] == [1, 2, 3]


def test_command_reports_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(_jsonl(GOOD, {"id": "p2"}))
    with pytest.raises(CommandError, match="line 2"):
        call_command("import_prompts", str(path), "--batch", "w1", "--stage", "helpfulness")
    assert Prompt.objects.count() == 0
    from annotation.models import PromptBatch

    assert not PromptBatch.objects.filter(name="w1").exists()


def test_comparison_import_bad_line_imports_nothing():
    good = {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello!",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Go away.",
    }
    bad = {"chosen": "no turns here", "rejected": "\n\nHuman: Hi\n\nAssistant: x"}
    with pytest.raises(ImportFailed) as failure:
        comparisons_import(
            batch=BatchFactory(), stream=io.BytesIO(_jsonl(good, bad)), filename="c.jsonl"
        )
    assert failure.value.errors[0].line == 2
    assert ResponsePair.objects.count() == Judgment.objects.count() == 0


def test_comparison_import_trl_form():
    record = {
        "prompt": [{"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    }
    comparisons_import(batch=BatchFactory(), stream=io.BytesIO(_jsonl(record)), filename="c.jsonl")
    pair = ResponsePair.objects.get()
    assert pair.context == record["prompt"]
    assert (pair.response_a.text, pair.response_b.text) == ("4", "5")
    assert Judgment.objects.get().chosen == "a"
