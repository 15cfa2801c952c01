"""The progress protocol: JSON lines from a core, read back by its launcher."""

import json

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
