"""Rejection sampling: export the chosen batches' prompts, run `python -m training_jobs.rlhf
round` (sample K from the start policy, select with R_s/R_h, pool with earlier rounds,
fine-tune), optionally a K x temperature sweep, and register the new policy.

Parameters: `batches` (prompt batch ids; a safety-stage batch marks its prompts as safety
prompts), `prompts_per_batch` (only each batch's first N prompts), `policy_version` (else the
iteration's start policy, else the base model), `helpfulness_version` / `safety_version` (else
the newest of each kind), `sweep_ks` and `sweep_temperatures` (both given: sweep.json beside the
policy), `then_ppo` (a PPO job's parameters: when the round succeeds, a PPO job starts from its
policy in the same iteration, the paper's RLHF-V5), `device`, `nprocs` (over that many
processes the round fine-tunes under torchrun, after sampling and selecting in one), and the
flags of `RoundConfig` that Margin does not set itself (k, temperature, train_lr, train_epochs,
...; the fine-tuning ones are also accepted without their "train_" prefix, as jobs gave them
before).
"""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

from config.artifacts import artifact_path
from mlcore.cli import field_names
from mlcore.files import file_sha256
from training_jobs.rlhf.config import FinetuneConfig, RoundConfig, SweepConfig, Training

from ..models import Job, JobKind, JobState, ModelVersion
from ..services.iterations import model_version_register
from ..services.jobs import JobError
from .base import Runner
from .context import JobContext
from .inputs import prompts_export, reward_model_version
from .params import check_against, core_config

VERSION_PARAMS = {
    "policy_version": ModelVersion.Kind.POLICY,
    "helpfulness_version": ModelVersion.Kind.REWARD_HELPFULNESS,
    "safety_version": ModelVersion.Kind.REWARD_SAFETY,
}
MARGIN_PARAMS = {
    "batches",
    "prompts_per_batch",
    "device",
    "nprocs",
    "sweep_ks",
    "sweep_temperatures",
    "then_ppo",
    *VERSION_PARAMS,
}
RESERVED = {
    "prompts",
    "policy",
    "output_dir",
    "helpfulness_model",
    "safety_model",
    "earlier_pools",
    "progress",
    "base_url",
    "model_name",
    "finetune",
}
# Fine-tuning parameters as jobs named them before RoundConfig put them behind "train_"
# ("batch_size" is sampling's, and was "train_batch_size" already).
UNPREFIXED = {name: f"train_{name}" for name in field_names(Training) - {"batch_size"}}


def core_params(params: dict[str, Any]) -> dict[str, Any]:
    """The job's parameters for RoundConfig: Margin's own left out, old names mapped."""
    return {UNPREFIXED.get(k, k): v for k, v in params.items() if k not in MARGIN_PARAMS}


def then_ppo_params(params: dict[str, Any]) -> dict[str, Any]:
    """The chained PPO job's parameters: the round's batches and device unless it names its own."""
    inherited = {k: params[k] for k in ("batches", "device") if k in params}
    return {**inherited, **params["then_ppo"]}


def _numbers(value: Any, kind: tuple[type, ...]) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    )


def require_vllm(python: str) -> None:
    """JobError unless the job's Python has vLLM (the vllm backend samples in-process)."""
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is None)"
    found = subprocess.run([python, "-c", probe], capture_output=True, timeout=120)
    if found.returncode != 0:
        raise JobError(
            f"The vllm backend needs vLLM, and the jobs' Python ({python}) does not have it. "
            "Run GPU jobs with the GPU worker image's vLLM environment "
            "(MARGIN_JOB_PYTHON=/opt/vllm/bin/python), or start the job with "
            "backend=transformers."
        )


class RejectionSamplingRunner(Runner):
    kind = JobKind.REJECTION_SAMPLING
    core_config = RoundConfig
    own_params = frozenset(MARGIN_PARAMS)
    reserved = frozenset(RESERVED)

    def validate(self, params: dict[str, Any]) -> None:
        core = core_params(params)
        check_against(core, RoundConfig, reserved=RESERVED, paths=set())
        if core.get("backend") == "http":
            raise ValidationError("backend must be transformers or vllm (the job loads the policy)")
        batches = params.get("batches")
        if not _numbers(batches, (int,)) or not batches:
            raise ValidationError("batches must be a non-empty list of batch ids")
        for name, kind in VERSION_PARAMS.items():
            pk = params.get(name)
            if pk is not None and not ModelVersion.objects.filter(pk=pk, kind=kind).exists():
                raise ValidationError(f"{name} {pk} is not a {kind} model version")
        self.check_device(params)
        self.check_processes(params)
        per_batch = params.get("prompts_per_batch")
        if per_batch is not None and (not _numbers([per_batch], (int,)) or per_batch < 1):
            raise ValidationError("prompts_per_batch must be a positive integer")
        ks, temperatures = params.get("sweep_ks", []), params.get("sweep_temperatures", [])
        if not _numbers(ks, (int,)) or not all(1 <= k <= 100 for k in ks):
            raise ValidationError("sweep_ks must be a list of integers from 1 to 100")
        if not _numbers(temperatures, (int, float)) or not all(0 < t <= 2 for t in temperatures):
            raise ValidationError("sweep_temperatures must be a list of numbers in (0, 2]")
        if bool(ks) != bool(temperatures):
            raise ValidationError("give both sweep_ks and sweep_temperatures, or neither")
        if "then_ppo" in params:
            then = params["then_ppo"]
            if not isinstance(then, dict) or "policy_version" in then:
                raise ValidationError(
                    "then_ppo must be a PPO job's parameters (without policy_version: it "
                    "starts from this round's policy)"
                )
            from . import RUNNERS

            try:
                RUNNERS["ppo"].validate(then_ppo_params(params))
            except ValidationError as exc:
                raise ValidationError([f"then_ppo: {m}" for m in exc.messages]) from exc

    def _earlier_pools(self, start: ModelVersion) -> list[tuple[int, Path]]:
        """pool.jsonl of every rejection-sampling round along the start policy's lineage
        (the round that made it, the one that made its parent, ...), oldest first. Rounds on
        abandoned branches are left out: the paper pools the iterations that led here."""
        pools, seen = [], set()
        version: ModelVersion | None = start
        while version is not None and version.pk not in seen:
            seen.add(version.pk)
            job = version.job
            if job and job.kind == self.kind and job.state == JobState.SUCCEEDED:
                path = artifact_path(job.output_dir) / "pool.jsonl"
                if path.is_file():
                    pools.append((job.pk, path))
            version = version.parent
        return pools[::-1]

    def _finetune(self, ctx, config: RoundConfig, out: Path, nprocs: int, weight) -> None:
        """The round's fine-tuning over `nprocs` processes (torchrun; DDP, or FSDP with
        train_fsdp), after the round stopped at pool.jsonl; its metrics join the round's."""
        tune = FinetuneConfig(
            pool=str(out / "pool.jsonl"),
            policy=config.sampling.policy,
            output_dir=str(out),
            training=config.training,
            seed=config.sampling.seed,
        )
        ctx.run_core("training_jobs.rlhf", "finetune", tune, weight=weight, nprocs=nprocs)
        metrics = json.loads((out / "metrics.json").read_text())
        metrics["finetune"] = json.loads((out / "finetune.json").read_text())
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")

    def run(self, job: Job, ctx: JobContext) -> None:
        backend = core_params(job.params).get("backend")
        if (backend or ("vllm" if job.queue == "gpu" else "transformers")) == "vllm":
            require_vllm(ctx.python)
        prompts, rows = prompts_export(
            job.params["batches"], ctx, per_batch=job.params.get("prompts_per_batch")
        )
        start = self.starting_policy(job, "policy_version")
        helpfulness = reward_model_version(
            job, "helpfulness_version", ModelVersion.Kind.REWARD_HELPFULNESS
        )
        if helpfulness is None:
            raise JobError("There is no helpfulness reward model yet; train one first.")
        safety = reward_model_version(job, "safety_version", ModelVersion.Kind.REWARD_SAFETY)
        pools = self._earlier_pools(start)
        ctx.save_snapshot(
            {
                "files": [{"name": "prompts.jsonl", "sha256": file_sha256(prompts), "rows": rows}],
                "batches": job.params["batches"],
                "start_policy": start.name,
                "reward_models": {
                    "helpfulness": helpfulness.name,
                    "safety": safety.name if safety else None,
                },
                "earlier_pools_from_jobs": [pk for pk, _ in pools],
            }
        )

        out = ctx.work_dir / "policy"
        if out.exists():
            shutil.rmtree(out)
        core = core_params(job.params)
        core.setdefault("backend", "vllm" if job.queue == "gpu" else "transformers")
        config = core_config(
            RoundConfig,
            core,
            output_dir=str(out),
            prompts=str(prompts),
            policy=str(start.folder),
            helpfulness_model=str(helpfulness.folder),
            safety_model=str(safety.folder) if safety else "",
            earlier_pools=[str(p) for _, p in pools],
        )
        nprocs = self.processes(job)
        config.finetune = nprocs == 1
        sweep = bool(job.params.get("sweep_ks"))
        end = 0.8 if sweep else 1.0
        split = end if nprocs == 1 else 0.6 * end
        ctx.run_core("training_jobs.rlhf", "round", config, weight=(0.0, split))
        if nprocs > 1:
            self._finetune(ctx, config, out, nprocs, weight=(split, end))
        if sweep:
            sweep_config = SweepConfig(
                output=str(out / "sweep.json"),
                ks=job.params["sweep_ks"],
                temperatures=[float(t) for t in job.params["sweep_temperatures"]],
                sampling=config.sampling,
                scoring=config.scoring,
            )
            ctx.run_core("training_jobs.rlhf", "sweep", sweep_config, weight=(0.8, 1.0))
        metrics = json.loads((out / "metrics.json").read_text())
        published = ctx.publish(out, "policy")
        version = model_version_register(
            job=job, kind=ModelVersion.Kind.POLICY, path=published, parent=start, metrics=metrics
        )
        ctx.output_dir = published
        if "then_ppo" in job.params:
            from ..services.jobs import job_create

            chained = job_create(
                kind=JobKind.PPO,
                params={**then_ppo_params(job.params), "policy_version": version.pk},
                iteration=job.iteration,
                user=job.created_by,
                request_key=f"job-{job.pk}-then-ppo",
            )
            ctx.log(f"started PPO job {chained.pk} from {version.name}")
