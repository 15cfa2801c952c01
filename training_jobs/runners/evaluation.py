"""Evaluation: reward-model versions on held-out test sets (`python -m rewardtrain eval`)."""

import json
from typing import Any

from config.artifacts import artifact_path

from ..models import Job, ModelVersion
from ..services.jobs import JobError
from .context import JobContext
from .params import check_device, device_flags

MARGIN_PARAMS = {"versions", "test_from", "device", "bf16"}


class EvaluationRunner:
    def validate(self, params: dict[str, Any]) -> None:
        versions = params.get("versions")
        if not isinstance(versions, list) or not versions:
            raise JobError("versions must list the reward-model version ids to evaluate")
        found = ModelVersion.objects.filter(pk__in=versions).exclude(kind="policy").count()
        if found != len(set(versions)):
            raise JobError("versions must all be reward-model versions")
        if not isinstance(params.get("test_from", versions[0]), int):
            raise JobError("test_from must be a version id")
        if not isinstance(params.get("bf16", False), bool):
            raise JobError("bf16 must be true or false")
        check_device(params)
        unknown = set(params) - MARGIN_PARAMS
        if unknown:
            raise JobError(
                f"Unknown parameter {sorted(unknown)[0]!r}; allowed: "
                + ", ".join(sorted(MARGIN_PARAMS))
            )

    def run(self, job: Job, ctx: JobContext) -> None:
        versions = list(ModelVersion.objects.filter(pk__in=job.params["versions"]))
        source = ModelVersion.objects.get(pk=job.params.get("test_from", versions[0].pk))
        tests = sorted(artifact_path(source.path).glob("test_*.jsonl"))
        if not tests:
            raise JobError(f"{source.name} has no held-out test sets beside it")
        results: dict[str, Any] = {}
        for index, version in enumerate(versions):
            out = ctx.work_dir / f"eval_{version.pk}.json"
            model = version.folder
            ctx.run_process(
                [ctx.python, "-m", "rewardtrain", "eval", "--models", str(model)]
                + ["--output", str(out), "--test"]
                + [f"{t.stem.removeprefix('test_')}={t}" for t in tests]
                + device_flags(job.params),
                weight=(index / len(versions), (index + 1) / len(versions)),
            )
            results[version.name] = next(iter(json.loads(out.read_text())["metrics"].values()))
        (ctx.work_dir / "metrics.json").write_text(json.dumps(results, indent=2))
        ctx.output_dir = ctx.publish(ctx.work_dir, "evaluation")
