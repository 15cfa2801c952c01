"""Short training runs: a learnable synthetic rule, the real HH pairs, the saved folder."""

import json
import math

import pytest
import torch

from rewardtrain.config import TrainConfig
from rewardtrain.data import read_pairs, tokenize_pairs
from rewardtrain.evaluate import score_pairs
from rewardtrain.loss import pairwise_margin_loss
from rewardtrain.model import RewardModel, load_sequence_classifier
from rewardtrain.train import lr_factor, main, warmup_steps
from tests.shared_data import HH_PATH


def _cfg(out, model, data, **kw) -> TrainConfig:
    base = dict(
        output_dir=str(out),
        model=str(model),
        data=[str(d) for d in data],
        mix="none",
        batch_pairs=16,
        lr=2e-3,
        save_every=0,
        progress=False,
        pack_tokens=512,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory, tiny_dir, synthetic_file):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("synthetic-run")
    metrics = main(_cfg(out, tiny_dir, [synthetic_file], epochs=2.0))
    return out, metrics


def test_learnable_rule_reaches_high_held_out_accuracy(synthetic_run):
    out, metrics = synthetic_run
    test = metrics["helpfulness"]
    assert test["n"] == 60
    assert test["average"] > 0.9
    report = json.loads((out / "metrics.json").read_text())
    assert report["metrics"]["helpfulness"]["helpfulness"]["average"] == test["average"]
    assert set(report["metrics"]["helpfulness"]["helpfulness"]["accuracy"]) >= {
        "significantly_better",
        "negligibly_better",
        "ungraded",
    }
    assert "| helpfulness | helpfulness |" in report["table8"]
    meta = json.loads((out / "rewardtrain.json").read_text())
    assert meta["data"]["inputs"][0]["sha256"] and meta["data"]["train_pairs"] == 540
    assert meta["data"]["mix"]["used"]["helpfulness"] == 540


def test_saved_folder_loads_with_automodel_and_scores_identically(synthetic_run, tokenizer):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out, _ = synthetic_run
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    assert (out / "model.safetensors").is_file()
    loaded = AutoModelForSequenceClassification.from_pretrained(out)
    loaded_tokenizer = AutoTokenizer.from_pretrained(out)
    assert loaded.config.num_labels == 1 and loaded.config.pad_token_id == tokenizer.pad_token_id
    pairs, _ = read_pairs(out / "test_helpfulness.jsonl")
    tokenized, _ = tokenize_pairs(loaded_tokenizer, pairs[:8])
    ours = RewardModel(load_sequence_classifier(out, tokenizer.pad_token_id))
    chosen, rejected = score_pairs(ours, tokenized, pack_tokens=4096)
    texts = [
        loaded_tokenizer.apply_chat_template(p.prompt + p.chosen, tokenize=False) for p in pairs[:8]
    ]
    batch = loaded_tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        reference = loaded(**batch).logits[:, 0]
    assert torch.allclose(chosen, reference, atol=1e-5)
    assert not torch.allclose(chosen, rejected)


def test_score_command(synthetic_run, tmp_path):
    from rewardtrain.__main__ import run

    out, _ = synthetic_run
    pairs, _ = read_pairs(out / "test_helpfulness.jsonl")
    lines = [
        {"messages": pairs[0].prompt + pairs[0].chosen},
        {"prompt": pairs[1].prompt, "responses": [pairs[1].chosen, pairs[1].rejected]},
    ]
    source = tmp_path / "dialogues.jsonl"
    source.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    scored = tmp_path / "scored.jsonl"
    run(["score", "--model", str(out), "--input", str(source), "--output", str(scored)])
    rows = [json.loads(x) for x in scored.read_text().splitlines()]
    assert isinstance(rows[0]["score"], float)
    good, bad = rows[1]["scores"]
    assert good > bad


def test_eval_command_writes_table8(synthetic_run, tmp_path):
    from rewardtrain.__main__ import run

    out, metrics = synthetic_run
    target = tmp_path / "metrics.json"
    run(["eval", "--models", str(out), "--output", str(target)])
    report = json.loads(target.read_text())
    name = out.resolve().name
    assert report["metrics"][name]["helpfulness"]["average"] == pytest.approx(
        metrics["helpfulness"]["average"]
    )


def test_eval_and_score_take_a_device_and_bf16(synthetic_run, tmp_path, capsys):
    """On this CPU machine: auto is the CPU, bf16 keeps float32 there, cuda is refused."""
    from rewardtrain.__main__ import run
    from rewardtrain.model import pick_device

    out, metrics = synthetic_run
    target = tmp_path / "metrics.json"
    run(["eval", "--models", str(out), "--output", str(target), "--device", "auto", "--bf16"])
    report = json.loads(target.read_text())
    assert report["device"] == str(pick_device("auto")) == "cpu"
    assert report["dtype"] == "float32"
    name = out.resolve().name
    assert report["metrics"][name]["helpfulness"]["average"] == pytest.approx(
        metrics["helpfulness"]["average"]
    )
    source = tmp_path / "dialogues.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    run(["score", "--model", str(out), "--input", str(source), "--output", "-", "--device", "cpu"])
    assert "scored 1 lines on cpu (float32)" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="CUDA is not available"):
        run(["score", "--model", str(out), "--input", str(source), "--device", "cuda"])


def test_short_run_on_hh_lowers_the_loss(tmp_path, tiny_dir, tokenizer):
    pairs, _ = read_pairs(HH_PATH)
    tokenized, _ = tokenize_pairs(tokenizer, pairs[:400], max_length=512)
    subset = tmp_path / "hh.jsonl"
    subset.write_text("".join(t.pair.to_line() for t in tokenized[:48]))
    fixed, _ = read_pairs(subset)
    fixed_tok, _ = tokenize_pairs(tokenizer, fixed)

    def loss_of(folder) -> float:
        torch.manual_seed(0)
        model = RewardModel(load_sequence_classifier(folder, tokenizer.pad_token_id))
        c, r = score_pairs(model, fixed_tok, pack_tokens=4096)
        return pairwise_margin_loss(c, r, torch.zeros_like(c)).mean().item()

    before = loss_of(tiny_dir)
    out = tmp_path / "hh-run"
    main(_cfg(out, tiny_dir, [subset], epochs=6.0, batch_pairs=8, test_fraction=0.0, lr=1e-3))
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    after = loss_of(out)
    assert after < before - 0.05
    first, last = log[0]["loss"], sum(x["loss"] for x in log[-6:]) / 6
    assert last < first


def test_schedule_follows_the_paper():
    assert warmup_steps(1000, 0.03, 5) == 30
    assert warmup_steps(100, 0.03, 5) == 5
    assert warmup_steps(4, 0.03, 5) == 2
    total, warm = 1000, 30
    assert lr_factor(0, total, warm, 0.1) == pytest.approx(1 / 30)
    assert lr_factor(29, total, warm, 0.1) == pytest.approx(1.0)
    assert lr_factor(total - 1, total, warm, 0.1) == pytest.approx(0.1)
    mid = warm + (total - warm - 1) / 2
    assert lr_factor(math.ceil(mid), total, warm, 0.1) == pytest.approx(0.55, abs=0.01)


def test_attention_item_by_item_trains_as_the_dense_mask(tmp_path, tiny_dir, synthetic_file):
    """--attention per_item and dense: the same losses step by step and the same weights."""
    from safetensors.torch import load_file

    runs = {}
    for attention in ("dense", "per_item"):
        out = tmp_path / attention
        main(_cfg(out, tiny_dir, [synthetic_file], max_steps=4, attention=attention))
        lines = (out / "log.jsonl").read_text().splitlines()
        runs[attention] = (
            [json.loads(x)["loss"] for x in lines],
            load_file(out / "model.safetensors"),
        )
    (dense_losses, dense), (item_losses, item) = runs["dense"], runs["per_item"]
    assert item_losses == pytest.approx(dense_losses, abs=1e-5)
    assert max(float((item[k] - dense[k]).abs().max()) for k in dense) < 1e-4
