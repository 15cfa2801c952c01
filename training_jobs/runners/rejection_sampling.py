"""Rejection sampling: export the chosen batches' prompts, run `python -m training_jobs.rlhf
round` (sample K from the start policy, select with R_s/R_h, pool with earlier rounds,
fine-tune), optionally a K x temperature sweep, and register the new policy.

Parameters: `batches` (prompt batch ids; a safety-stage batch marks its prompts as safety
prompts), `policy_version` (else the iteration's start policy, else the base model),
`helpfulness_version` / `safety_version` (else the newest of each kind), `sweep_ks` and
`sweep_temperatures` (both given: sweep.json beside the policy), `then_ppo` (a PPO job's
parameters: when the round succeeds, a PPO job starts from its policy in the same iteration,
the paper's RLHF-V5), `device`, and the flags of
`RoundConfig` that Margin does not set itself (k, temperature, train_lr, train_epochs, ...; the
fine-tuning ones are also accepted without their "train_" prefix, as jobs gave them before).
"""

import json
import shutil
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

from config.artifacts import artifact_path
from mlcore.cli import field_names
from mlcore.files import file_sha256
from training_jobs.rlhf.config import RoundConfig, SweepConfig, Training

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
    "device",
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

    def _earlier_pools(self, job: Job) -> list[tuple[int, Path]]:
        """pool.jsonl of every earlier succeeded rejection-sampling job, oldest first."""
        earlier = (
            Job.objects.filter(kind=self.kind, state=JobState.SUCCEEDED)
            .exclude(pk=job.pk)
            .order_by("finished_at", "pk")
        )
        pools = []
        for other in earlier:
            path = artifact_path(other.output_dir) / "pool.jsonl"
            if path.is_file():
                pools.append((other.pk, path))
        return pools

    def run(self, job: Job, ctx: JobContext) -> None:
        prompts, rows = prompts_export(job.params["batches"], ctx)
        start = self.starting_policy(job, "policy_version")
        helpfulness = reward_model_version(
            job, "helpfulness_version", ModelVersion.Kind.REWARD_HELPFULNESS
        )
        if helpfulness is None:
            raise JobError("There is no helpfulness reward model yet; train one first.")
        safety = reward_model_version(job, "safety_version", ModelVersion.Kind.REWARD_SAFETY)
        pools = self._earlier_pools(job)
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
        sweep = bool(job.params.get("sweep_ks"))
        ctx.run_core("training_jobs.rlhf", "round", config, weight=(0.0, 0.8 if sweep else 1.0))
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
