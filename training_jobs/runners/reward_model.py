"""Reward-model training: export the judgments, run `python -m rewardtrain train`, compare
with the previous model of the same kind on the same held-out test, register the result."""

import json
import shutil
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Max

from annotation.exports import ExportFilters, export_write_file
from annotation.models import Judgment
from mlcore.files import file_sha256
from rewardtrain.config import EvalConfig, TrainConfig
from rewardtrain.grades import DEFAULT_MARGIN_TABLE

from ..models import Job, ModelVersion
from ..quality.services import responses_score_enqueue
from ..services.iterations import model_version_register
from ..services.jobs import JobError
from .base import Runner
from .context import JobContext
from .params import check_against, core_config, core_device

MARGIN_PARAMS = {"batches", "init_version", "device", "nprocs"}
RESERVED = {"output_dir", "model", "reward_model", "data", "progress", "resume"}
PATHS = {"harmless", "open_source"}


class RewardModelRunner(Runner):
    core_config = TrainConfig
    own_params = frozenset(MARGIN_PARAMS)
    reserved = frozenset(RESERVED)

    def __init__(self, reward_model: str) -> None:
        self.reward_model = reward_model
        self.kind = f"reward_{reward_model}"

    def validate(self, params: dict[str, Any]) -> None:
        core = {k: v for k, v in params.items() if k not in MARGIN_PARAMS}
        check_against(core, TrainConfig, reserved=RESERVED, paths=PATHS)
        batches = params.get("batches", [])
        if not isinstance(batches, list) or not all(isinstance(b, int) for b in batches):
            raise ValidationError("batches must be a list of batch ids")
        init = params.get("init_version")
        if (
            init is not None
            and not ModelVersion.objects.filter(pk=init, kind=ModelVersion.Kind.POLICY).exists()
        ):
            raise ValidationError(f"init_version {init} is not a policy model version")
        self.check_device(params)
        self.check_processes(params)

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
            margin_table=job.params.get("margin", DEFAULT_MARGIN_TABLE),
            relative_path=f"{ctx.root}/work/data.jsonl",
        )
        if rows == 0:
            raise JobError("There are no judgments to train on.")
        stages = dict(
            judgments.values_list("pair__batch__stage").annotate(n=Count("id")).order_by()
        )
        ctx.save_snapshot(
            {
                "files": [{"name": "data.jsonl", "sha256": file_sha256(data), "rows": rows}],
                "judgments_through": through,
                "by_stage": stages,
                "batches": filters.batch_ids,
            }
        )
        ctx.log(f"exported {rows} judgments (through id {through}): {stages}")
        return data

    def run(self, job: Job, ctx: JobContext) -> None:
        data = self._export(job, ctx)
        init = self.starting_policy(job, "init_version")
        model_dir = ctx.work_dir / "model"
        config = core_config(
            TrainConfig,
            {k: v for k, v in job.params.items() if k not in MARGIN_PARAMS},
            paths=PATHS,
            output_dir=str(model_dir),
            model=str(init.folder),
            reward_model=self.reward_model,
            data=[str(data)],
        )
        nprocs = self.processes(job)
        ctx.run_core("rewardtrain", "train", config, weight=(0.0, 0.85), nprocs=nprocs)
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
        out = ctx.work_dir / f"eval_{name}.json"
        config = EvalConfig(
            models=[str(model)],
            test=held_out_tests(tests_beside),
            output=str(out),
            device=core_device(ctx.job.params),
            bf16=bool(ctx.job.params.get("bf16")),
        )
        ctx.run_core("rewardtrain", "eval", config, weight=(0.85, 1.0))
        report = json.loads(out.read_text())
        return next(iter(report["metrics"].values()))


def held_out_tests(folder: Path) -> list[str]:
    """The held-out test sets saved beside a reward model, as `eval --test NAME=FILE`."""
    return [f"{t.stem.removeprefix('test_')}={t}" for t in sorted(folder.glob("test_*.jsonl"))]
