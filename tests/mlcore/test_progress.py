"""The progress protocol: JSON lines from a core, read back by its launcher."""

import json

import pytest

from mlcore.progress import ENV, Progress, ProgressReader


def test_stages_fill_their_shares_and_metrics_travel(tmp_path):
    path = tmp_path / "progress.jsonl"
    reader = ProgressReader(path)
    assert reader.read() == []
    with Progress({"sample": 3, "finetune": 1}, path=path) as progress:
        sample = progress.stage("sample", total=2)
        sample.update(1)
        sample.update(1)
        first = reader.read()
        train = progress.stage("finetune", total=4)
        train.update(2, loss=0.5, lr=2e-5, note="text is dropped")
        train.log(message="saved a checkpoint")
    lines = first + reader.read()
    assert lines[-1]["message"] == "saved a checkpoint"
    assert lines[0]["stage"] == "sample"
    done_sampling = next(x for x in lines if x["stage"] == "sample" and x["step"] == 2)
    assert done_sampling["fraction"] == 0.75 and done_sampling["total"] == 2
    metric_line = next(x for x in lines if "metrics" in x)
    assert metric_line == {
        **metric_line,
        "stage": "finetune",
        "step": 2,
        "fraction": 0.875,
        "metrics": {"loss": 0.5, "lr": 2e-5},
    }
    fractions = [x["fraction"] for x in lines]
    assert fractions == sorted(fractions)


def test_the_environment_names_the_file_and_only_rank_zero_writes(tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    monkeypatch.setenv(ENV, str(path))
    monkeypatch.setenv("RANK", "1")
    Progress().stage("run", total=1).update(1, loss=1.0)
    assert not path.exists()
    monkeypatch.setenv("RANK", "0")
    progress = Progress(bar=True)
    assert not progress.show_bar  # a launcher reads the file: no terminal bar in its log
    progress.stage("run", total=1).update(1, loss=float("nan"))
    progress.close()
    (line,) = [json.loads(x) for x in path.read_text().splitlines()]
    assert line["metrics"] == {"loss": None} and line["fraction"] == 1.0


def test_a_torn_last_line_waits_for_its_end(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, "fra')
    reader = ProgressReader(path)
    assert reader.read() == [{"step": 1}]
    with path.open("a") as handle:
        handle.write('ction": 0.5}\nnot json\n')
    assert reader.read() == [{"step": 2, "fraction": 0.5}]


def test_a_resumed_stage_starts_where_it_left_off_and_a_new_stage_closes_the_old_bar(tmp_path):
    path = tmp_path / "p.jsonl"
    with Progress({"train": 1, "test": 1}, path=path) as progress:
        train = progress.stage("train", total=10, initial=6)
        train.update(1, loss=0.5)
        assert progress.fraction == pytest.approx(0.35)
        progress.stage("test", total=1)
        assert train._bar is None
    (line,) = [json.loads(x) for x in path.read_text().splitlines()]
    assert line["step"] == 7 and line["fraction"] == pytest.approx(0.35)


def test_a_person_at_a_terminal_gets_a_bar_per_stage(capsys, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with Progress({"sample": 1, "finetune": 1}) as progress:
        progress.stage("sample", total=2).update(2)
        progress.stage("finetune", total=4).update(4, loss=0.25)
    err = capsys.readouterr().err
    assert "sample: 100%" in err and "finetune: 100%" in err and "loss=0.25" in err
