"""Reward-model training: export the judgments, run `python -m rewardtrain train`, compare
with the previous model of the same kind on the same held-out test, register the result."""

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from django.db.models import Count, Max

from annotation.exports import ExportFilters, export_write_file
from annotation.models import Judgment

from ..models import Job, ModelVersion
from ..quality.services import responses_score_enqueue
from ..services.iterations import model_version_register, policy_base_ensure
from ..services.jobs import JobError
from .context import JobContext
from .params import check_against, flags

MARGIN_PARAMS = {"batches", "init_version", "device"}
RESERVED = {"output_dir", "model", "reward_model", "data", "progress", "resume"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class RewardModelRunner:
    def __init__(self, reward_model: str) -> None:
        self.reward_model = reward_model
        self.kind = f"reward_{reward_model}"

    def validate(self, params: dict[str, Any]) -> None:
        from rewardtrain.config import TrainConfig

        core = {k: v for k, v in params.items() if k not in MARGIN_PARAMS}
        check_against(core, TrainConfig, reserved=RESERVED, paths={"harmless", "open_source"})
        batches = params.get("batches", [])
        if not isinstance(batches, list) or not all(isinstance(b, int) for b in batches):
            raise JobError("batches must be a list of batch ids")
        init = params.get("init_version")
        if (
            init is not None
            and not ModelVersion.objects.filter(pk=init, kind=ModelVersion.Kind.POLICY).exists()
        ):
            raise JobError(f"init_version {init} is not a policy model version")
        if params.get("device", "gpu") not in ("gpu", "cpu"):
            raise JobError("device must be gpu or cpu")

    def _init_policy(self, job: Job) -> ModelVersion:
        if job.params.get("init_version"):
            return ModelVersion.objects.get(pk=job.params["init_version"])
        if job.iteration and job.iteration.start_policy:
            return job.iteration.start_policy
        return policy_base_ensure()

    def _export(self, job: Job, ctx: JobContext) -> Path:
        """The training data, written once per job (a retry reuses it, so a resumed run sees
        exactly the same pairs)."""
        data = ctx.work_dir / "data.jsonl"
        if data.is_file() and job.data_snapshot.get("files"):
            return data
        filters = ExportFilters(batch_ids=job.params.get("batches", []), for_reward_model=True)
        judgments = filters.apply(Judgment.objects.all())
        through = judgments.aggregate(last=Max("id"))["last"] or 0
        rows = export_write_file(
            filters=filters,
            fmt="trl",
            margin_table=job.params.get("margin", "small"),
            relative_path=f"{ctx.root}/work/data.jsonl",
        )
        if rows == 0:
            raise JobError("There are no judgments to train on.")
        stages = dict(
            judgments.values_list("pair__batch__stage").annotate(n=Count("id")).order_by()
        )
        ctx.save_snapshot(
            {
                "files": [{"name": "data.jsonl", "sha256": _sha256(data), "rows": rows}],
                "judgments_through": through,
                "by_stage": stages,
                "batches": filters.batch_ids,
            }
        )
        ctx.log(f"exported {rows} judgments (through id {through}): {stages}")
        return data

    def run(self, job: Job, ctx: JobContext) -> None:
        data = self._export(job, ctx)
        init = self._init_policy(job)
        model_dir = ctx.work_dir / "model"
        core = {k: v for k, v in job.params.items() if k not in MARGIN_PARAMS}
        ctx.run_process(
            [ctx.python, "-m", "rewardtrain", "train", "--output-dir", str(model_dir)]
            + ["--model", str(init.folder), "--reward-model", self.reward_model]
            + ["--data", str(data), "--progress", *flags(core)],
            weight=(0.0, 0.85),
        )
        metrics = json.loads((model_dir / "metrics.json").read_text())
        previous = (
            ModelVersion.objects.filter(kind=self.kind)
            .exclude(job=job)
            .order_by("-created_at")
            .first()
        )
        if previous:
            metrics["previous"] = {
                "version": previous.name,
                "on_this_test": self._evaluate(ctx, previous.folder, model_dir, "previous"),
            }
        for leftover in model_dir.glob("checkpoints"):
            shutil.rmtree(leftover)  # resumable state is not part of the published model
        published = ctx.publish(model_dir, "model")
        version = model_version_register(
            job=job,
            kind=self.kind,
            path=published,
            parent=previous,
            metrics=metrics,
            judgments_through=job.data_snapshot.get("judgments_through", 0),
        )
        ctx.output_dir = published
        # The staff signals (agreement, drift, disagreement) read the newest model's scores.
        responses_score_enqueue(version_ids=[version.pk])

    def _evaluate(self, ctx: JobContext, model: Path, tests_beside: Path, name: str) -> dict:
        tests = sorted(tests_beside.glob("test_*.jsonl"))
        out = ctx.work_dir / f"eval_{name}.json"
        ctx.run_process(
            [ctx.python, "-m", "rewardtrain", "eval", "--models", str(model), "--output", str(out)]
            + ["--test", *(f"{t.stem.removeprefix('test_')}={t}" for t in tests)],
            weight=(0.85, 1.0),
        )
        report = json.loads(out.read_text())
        return next(iter(report["metrics"].values()))
