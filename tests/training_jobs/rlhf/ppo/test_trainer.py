"""The PPO recipe on a tiny policy: KL is exactly 0 before the first step, the rollout engine
samples from the weights as they are now, a whole run leaves a servable policy, its progress
lines and its provenance."""

import json

import pytest
import torch

from tests.training_jobs.rlhf.ppo.helpers import make_certain, ppo_config
from training_jobs.rlhf.ppo.metrics import trajectory_metrics
from training_jobs.rlhf.ppo.trainer import PPOTrainer, main


@pytest.fixture
def trainer(tmp_path, tiny_setup):
    trainer = PPOTrainer(ppo_config(tmp_path / "out", tiny_setup))
    trainer.setup()
    yield trainer
    trainer.engine.close()


def test_kl_is_exactly_zero_at_iteration_zero_and_moves_after_a_step(trainer):
    traj = trainer.generate_trajectory(0)
    assert torch.equal(traj.logprobs, traj.ref_logprobs)
    metrics = trajectory_metrics(traj)
    assert metrics["kl_k1"] == 0.0 and metrics["kl_k3"] == 0.0
    assert (traj.logprobs * traj.mask).sum() < 0  # real log-probs, not zeros

    trainer.cfg.optim.lr = 1e-2  # one visible step
    for group in trainer.actor_optim.param_groups:
        group["lr"] = 1e-2
    step = trainer.ppo_step(traj, 0)
    assert step["policy_loss"] == pytest.approx(step["policy_loss"])  # a number
    moved = trainer.generate_trajectory(1)
    kl = trajectory_metrics(moved)
    assert kl["kl_k3"] > 0 and not torch.equal(moved.logprobs, moved.ref_logprobs)


def test_shaped_reward_puts_the_whitened_score_on_each_answers_last_token(trainer):
    traj = trainer.generate_trajectory(0)
    lengths = traj.mask.sum(1).long()
    # KL is 0 at iteration 0, so the only reward is the whitened score at the last token.
    for row, n in enumerate(lengths.tolist()):
        assert traj.rewards[row, n - 1] == pytest.approx(float(traj.scores[row]))
        assert torch.count_nonzero(traj.rewards[row, : n - 1]) == 0
    assert float(traj.scores.mean()) == pytest.approx(0.0, abs=1e-5)  # whitened over the batch


def test_rollouts_follow_the_actors_current_weights(trainer):
    """The stale-weights bug (OpenRLHF #660, trl #5312): after the actor's weights change,
    the next rollouts must come from the new weights."""
    target = trainer.tokenizer.convert_tokens_to_ids("river")
    before = trainer.generate_trajectory(0).rollouts.response_ids
    assert not all(set(ids) == {target} for ids in before)

    make_certain(trainer.actor, target, trainer.tokenizer.convert_tokens_to_ids("assistant"))
    after = trainer.generate_trajectory(1).rollouts.response_ids
    assert all(set(ids) == {target} for ids in after)
    assert all(len(ids) == trainer.cfg.rollout.max_new_tokens for ids in after)


def test_a_run_leaves_a_servable_policy_progress_lines_and_provenance(
    tmp_path, tiny_setup, monkeypatch
):
    from inference import SamplingParams
    from inference.backends.transformers_cpu import TransformersBackend
    from mlcore.progress import ProgressReader

    progress_file = tmp_path / "progress.jsonl"
    monkeypatch.setenv("MARGIN_PROGRESS_FILE", str(progress_file))
    out = tmp_path / "out"
    summary = main(ppo_config(out, tiny_setup, iterations=3, eval_every=2))

    assert summary["iterations"] == 3 and summary["world_size"] == 1
    assert summary["critic_initialised_from"].startswith("reward_model:")
    assert not (out / "checkpoints").exists() and not (out / "best").exists()
    lines = [json.loads(x) for x in (out / "iterations.jsonl").read_text().splitlines()]
    assert [x["iteration"] for x in lines] == [1, 2, 3]
    for name in ("reward_mean", "kl_k1", "kl_k3", "clip_fraction", "value_loss", "entropy"):
        assert all(isinstance(x[name], float) for x in lines), name
    shares = [
        x["routed_safety_flag"] + x["routed_threshold"] + x["routed_helpfulness"] for x in lines
    ]
    assert shares == pytest.approx([1.0] * 3)
    assert "heldout_reward" in lines[1] and "heldout_reward" in lines[2]
    heldout = [json.loads(x) for x in (out / "heldout.jsonl").read_text().splitlines()]
    assert sorted({x["iteration"] for x in heldout}) == [0, 2, 3]

    updates = ProgressReader(progress_file).read()
    ppo = [u for u in updates if u["stage"] == "ppo" and "metrics" in u]
    assert [u["step"] for u in ppo if "seconds_training" in u["metrics"]] == [1, 2, 3]
    assert updates[-1]["fraction"] == pytest.approx(1.0)

    made = json.loads((out / "ppo.json").read_text())
    assert made["method"] == "ppo" and len(made["prompts"][0]["sha256"]) == 64
    assert made["reward_models"]["safety"]["path"] == str(tiny_setup["safety"].resolve())

    backend = TransformersBackend(out, batch_size=2)
    [answer] = backend.generate(
        [[{"role": "user", "content": "apple river"}]], SamplingParams(max_tokens=4, seed=1)
    )
    assert answer.completion_tokens >= 1


def test_without_a_shared_tokenizer_the_critic_starts_from_the_policy(tmp_path, tiny_setup):
    from rewardtrain.model import load_tokenizer
    from tests.rewardtrain.helpers import make_tiny_llama
    from training_jobs.rlhf.ppo.critic import load_critic

    tokenizer = load_tokenizer(tiny_setup["policy"])
    critic, source = load_critic(
        str(tiny_setup["helpfulness"]), str(tiny_setup["policy"]), tokenizer
    )
    assert source.startswith("reward_model:")
    from inference.default_model import ensure_default_model

    smol = load_tokenizer(ensure_default_model())
    other = make_tiny_llama(tmp_path / "smol-rm", smol)
    critic, source = load_critic(str(other), str(tiny_setup["policy"]), tokenizer)
    assert source.startswith("policy:")
    assert critic.classifier.config.vocab_size == len(tokenizer)
    assert torch.count_nonzero(critic.classifier.score.weight) == 0


@pytest.mark.parametrize("micro_batch", [1, 3])
def test_old_logprobs_from_the_engine_match_a_forward_and_micro_batches_change_nothing(
    tmp_path, tiny_setup, micro_batch
):
    """After a step, the engine's log-probs of its own draws are those of an actor forward;
    and a mini-batch cut into other micro-batches (sorted by length) takes the same step."""
    trainers = {}
    for source, micro in (("engine", 4), ("forward", micro_batch)):
        trainer = PPOTrainer(
            ppo_config(tmp_path / source, tiny_setup, old_logprobs=source, micro_batch=micro)
        )
        trainer.setup()
        for group in trainer.actor_optim.param_groups:
            group["lr"] = 1e-2
        trainer.ppo_step(trainer.generate_trajectory(0), 0)
        trainers[source] = trainer
    engine, forward = trainers["engine"], trainers["forward"]
    for name, weight in engine.actor.state_dict().items():
        assert weight == pytest.approx(forward.actor.state_dict()[name], abs=1e-5), name

    a, b = engine.generate_trajectory(1), forward.generate_trajectory(1)
    assert a.rollouts.response_ids == b.rollouts.response_ids
    assert not torch.equal(a.logprobs, a.ref_logprobs)  # the actor has moved
    assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
    for trainer in trainers.values():
        trainer.engine.close()


def test_v_old_from_the_critics_first_training_forward_is_a_separate_forwards(tmp_path, tiny_setup):
    """The first mini-batch's V_old comes from the critic's training forward (its weights are
    the rollout's then): the same values, advantages and step as a separate forward gives."""
    trainers = []
    for name in ("first", "separate"):
        trainer = PPOTrainer(ppo_config(tmp_path / name, tiny_setup))
        trainer.setup()
        for optimizer in (trainer.actor_optim, trainer.critic_optim):
            for group in optimizer.param_groups:
                group["lr"] = 1e-2
        trainers.append(trainer)
    first, separate = trainers
    a, b = first.generate_trajectory(0), separate.generate_trajectory(0)
    assert a.values_pending == list(range(8)) and a.advantages is None
    assert torch.count_nonzero(a.values[:8]) == 0 and torch.count_nonzero(a.values[8:]) > 0
    b.values = separate._value_forwards(b.rollouts, range(len(b.rollouts)))
    b.values_pending = []

    got, want = first.ppo_step(a, 0), separate.ppo_step(b, 0)
    assert a.values == pytest.approx(b.values, abs=1e-5)
    assert a.advantages == pytest.approx(b.advantages, abs=1e-4)
    for name in ("policy_loss", "value_loss", "entropy"):
        assert got[name] == pytest.approx(want[name], abs=1e-5), name
    for model in ("actor", "critic"):
        theirs = getattr(separate, model).state_dict()
        for name, weight in getattr(first, model).state_dict().items():
            assert weight == pytest.approx(theirs[name], abs=1e-5), (model, name)
    for trainer in trainers:
        trainer.engine.close()


def test_one_mini_batch_an_iteration_reads_every_v_old_in_the_critics_training_forward(
    tmp_path, tiny_setup
):
    trainer = PPOTrainer(ppo_config(tmp_path / "out", tiny_setup, rollouts=8, mini_batch=8))
    trainer.setup()
    traj = trainer.generate_trajectory(0)
    assert traj.values_pending == list(range(8)) and torch.count_nonzero(traj.values) == 0
    step = trainer.ppo_step(traj, 0)
    assert torch.count_nonzero(traj.values * traj.mask) > 0 and step["value_loss"] > 0
    trainer.engine.close()
