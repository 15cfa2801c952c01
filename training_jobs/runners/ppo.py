"""PPO: export the chosen batches' prompts, run `python -m training_jobs.rlhf ppo` (under
torchrun for `nprocs` > 1) and register the policy it chose, with its lineage.

Parameters: `batches` (prompt batch ids; a safety-stage batch marks its prompts as safety
prompts), `heldout_batches` (prompts for early stopping; else the core holds out the last
`heldout_count` prompts), `policy_version` (else the policy made earlier in the same iteration,
e.g. by its rejection-sampling job, the paper's RLHF-V5; else the iteration's start policy;
else the base model), `helpfulness_version` / `safety_version` (else the newest of each kind),
`device`, `nprocs`, and the flags of `PPOConfig` that Margin does not set itself (iterations,
beta, lr, rollouts, mini_batch, max_new_tokens, preset, ...).

A retried job resumes: its output folder (with the core's checkpoints) stays in the job's work
folder until the run finishes.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError

from mlcore.files import file_sha256
from training_jobs.rlhf.ppo.config import PPOConfig, apply_preset, check_shape

from ..models import Job, JobKind, ModelVersion
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
MARGIN_PARAMS = {"batches", "heldout_batches", "device", "nprocs", *VERSION_PARAMS}
RESERVED = {
    "prompts",
    "heldout_prompts",
    "policy",
    "output_dir",
    "helpfulness_model",
    "safety_model",
    "progress",
    "resume",
}


def _ids(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def start_policy(job: Job) -> ModelVersion:
    """The policy PPO starts from: the one `policy_version` names, else the one its iteration
    has produced so far (a rejection-sampling round's: RLHF-V5), else as every runner starts."""
    if not job.params.get("policy_version") and job.iteration and job.iteration.produced_policy:
        return job.iteration.produced_policy
    return Runner.starting_policy(job, "policy_version")


class PPORunner(Runner):
    kind = JobKind.PPO
    core_config = PPOConfig
    own_params = frozenset(MARGIN_PARAMS)
    reserved = frozenset(RESERVED)

    def validate(self, params: dict[str, Any]) -> None:
        core = {k: v for k, v in params.items() if k not in MARGIN_PARAMS}
        check_against(core, PPOConfig, reserved=RESERVED, paths=set())
        if not _ids(params.get("batches")) or not params["batches"]:
            raise ValidationError("batches must be a non-empty list of batch ids")
        if not _ids(params.get("heldout_batches", [])):
            raise ValidationError("heldout_batches must be a list of batch ids")
        for name, kind in VERSION_PARAMS.items():
            pk = params.get(name)
            if pk is not None and not ModelVersion.objects.filter(pk=pk, kind=kind).exists():
                raise ValidationError(f"{name} {pk} is not a {kind} model version")
        self.check_device(params)
        self.check_processes(params)
        nprocs = params.get("nprocs", 1)
        config = core_config(PPOConfig, core)
        try:
            check_shape(apply_preset(config), nprocs)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    def run(self, job: Job, ctx: JobContext) -> None:
        prompts, rows = prompts_export(job.params["batches"], ctx)
        files = [{"name": prompts.name, "sha256": file_sha256(prompts), "rows": rows}]
        heldout = ""
        if job.params.get("heldout_batches"):
            path, count = prompts_export(job.params["heldout_batches"], ctx, "heldout.jsonl")
            files.append({"name": path.name, "sha256": file_sha256(path), "rows": count})
            heldout = str(path)
        start = start_policy(job)
        helpfulness = reward_model_version(
            job, "helpfulness_version", ModelVersion.Kind.REWARD_HELPFULNESS
        )
        if helpfulness is None:
            raise JobError("There is no helpfulness reward model yet; train one first.")
        safety = reward_model_version(job, "safety_version", ModelVersion.Kind.REWARD_SAFETY)
        ctx.save_snapshot(
            {
                "files": files,
                "batches": job.params["batches"],
                "heldout_batches": job.params.get("heldout_batches", []),
                "start_policy": {"id": start.pk, "name": start.name},
                "reward_models": {
                    "helpfulness": {"id": helpfulness.pk, "name": helpfulness.name},
                    "safety": {"id": safety.pk, "name": safety.name} if safety else None,
                },
            }
        )
        out = ctx.work_dir / "policy"
        config = core_config(
            PPOConfig,
            {k: v for k, v in job.params.items() if k not in MARGIN_PARAMS},
            output_dir=str(out),
            prompts=str(prompts),
            heldout_prompts=heldout,
            policy=str(start.folder),
            helpfulness_model=str(helpfulness.folder),
            safety_model=str(safety.folder) if safety else "",
        )
        ctx.run_core("training_jobs.rlhf", "ppo", config, nprocs=job.params.get("nprocs", 1))
        metrics = json.loads((out / "metrics.json").read_text())
        published = ctx.publish(out, "policy")
        model_version_register(
            job=job, kind=ModelVersion.Kind.POLICY, path=published, parent=start, metrics=metrics
        )
        ctx.output_dir = published
