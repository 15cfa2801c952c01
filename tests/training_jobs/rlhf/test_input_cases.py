"""Issue 13: `python -m training_jobs.rlhf sample` reads prompt files as the site's import reads
them (BOM, 'prompt'/'text'/'messages', the dialogue rules) and stops on a bad line with
`file:line: message`, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlcore.jsonl import FileError
from training_jobs.rlhf.sample import read_prompts

CASES = Path(__file__).resolve().parents[2] / "data" / "cases"
ROOT = Path(__file__).resolve().parents[3]


def test_a_bom_prompt_file_is_read():
    [prompt] = read_prompts(str(CASES / "12-bom-prompts.jsonl"))
    assert prompt["prompt"] == [
        {"role": "user", "content": "Write a limerick about a lighthouse keeper."}
    ]
    assert prompt["safety"] is False


def test_prompt_forms_and_rules_are_the_imports(tmp_path):
    path = tmp_path / "prompts.jsonl"
    lines = [
        {"text": "Plain text.", "safety": True, "id": 7},
        {"messages": [{"role": "user", "content": "One."}, {"role": "user", "content": "Two."}]},
        {"prompt": [{"role": "user", "content": [{"type": "text", "text": "Parts."}]}]},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    prompts = read_prompts(str(path))
    assert [p["prompt"][0]["content"] for p in prompts] == ["Plain text.", "One.\n\nTwo.", "Parts."]
    assert prompts[0]["safety"] is True and prompts[0]["id"] == 7
    path.write_text(json.dumps({"prompt": "ok", "safety": "yes"}) + "\n")
    with pytest.raises(FileError, match=r"prompts.jsonl:1: field 'safety'"):
        read_prompts(str(path))


def test_sample_stops_on_a_bad_line_with_file_line_and_no_traceback(tmp_path):
    name = CASES / "01-lone-surrogate-prompts.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "training_jobs.rlhf", "sample", "--prompts", str(name)]
        + ["--policy", str(tmp_path / "unused"), "--output", str(tmp_path / "s.jsonl")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"{name}:2: field 'prompt': contains a lone surrogate U+DCE9" in done.stderr
