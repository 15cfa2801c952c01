"""Evaluation: reward-model versions on held-out test sets (`python -m rewardtrain eval`)."""

import json
from typing import Any

from django.core.exceptions import ValidationError

from config.artifacts import artifact_path
from rewardtrain.config import EvalConfig

from ..models import Job, ModelVersion
from ..services.jobs import JobError
from .base import Runner
from .context import JobContext
from .params import core_device
from .reward_model import held_out_tests


class EvaluationRunner(Runner):
    own_params = frozenset({"versions", "test_from", "device", "bf16"})

    def validate(self, params: dict[str, Any]) -> None:
        versions = params.get("versions")
        if not isinstance(versions, list) or not versions:
            raise ValidationError("versions must list the reward-model version ids to evaluate")
        found = ModelVersion.objects.filter(pk__in=versions).exclude(kind="policy").count()
        if found != len(set(versions)):
            raise ValidationError("versions must all be reward-model versions")
        if not isinstance(params.get("test_from", versions[0]), int):
            raise ValidationError("test_from must be a version id")
        if not isinstance(params.get("bf16", False), bool):
            raise ValidationError("bf16 must be true or false")
        self.check_device(params)
        unknown = set(params) - self.own_params
        if unknown:
            raise ValidationError(
                f"Unknown parameter {sorted(unknown)[0]!r}; allowed: "
                + ", ".join(sorted(self.own_params))
            )

    def run(self, job: Job, ctx: JobContext) -> None:
        versions = list(ModelVersion.objects.filter(pk__in=job.params["versions"]))
        source = ModelVersion.objects.get(pk=job.params.get("test_from", versions[0].pk))
        tests = held_out_tests(artifact_path(source.path))
        if not tests:
            raise JobError(f"{source.name} has no held-out test sets beside it")
        results: dict[str, Any] = {}
        for index, version in enumerate(versions):
            out = ctx.work_dir / f"eval_{version.pk}.json"
            config = EvalConfig(
                models=[str(version.folder)],
                test=tests,
                output=str(out),
                device=core_device(job.params),
                bf16=bool(job.params.get("bf16")),
            )
            weight = (index / len(versions), (index + 1) / len(versions))
            ctx.run_core("rewardtrain", "eval", config, weight=weight)
            results[version.name] = next(iter(json.loads(out.read_text())["metrics"].values()))
        (ctx.work_dir / "metrics.json").write_text(json.dumps(results, indent=2))
        ctx.output_dir = ctx.publish(ctx.work_dir, "evaluation")
