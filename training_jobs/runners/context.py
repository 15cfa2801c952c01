"""What a runner gets: its folders under ARTIFACT_ROOT, one way to run a Django-free core
(`run_core`) with live progress, metrics, log and cancellation, and an atomic publish."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from config.artifacts import artifact_path
from mlcore.progress import ProgressReader

from ..models import Job
from ..services.jobs import job_progress
from .launch import CoreProcess, child_env, core_argv
from .metrics import MetricSeries


class JobCancelled(Exception):
    pass


class ProcessFailed(Exception):
    pass


def progress_detail(update: dict[str, Any]) -> str:
    """One line for the job page: "train 12/200 · loss 0.612 · lr 1e-05"."""
    total = update.get("total")
    text = f"{update.get('stage', '')} {update.get('step', 0)}" + (f"/{total}" if total else "")
    for name, value in (update.get("metrics") or {}).items():
        if isinstance(value, int | float):
            text += f" · {name} {value:.4g}"
    return text[:300]


class JobContext:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.root = f"jobs/{job.pk}"
        self.work_dir = artifact_path(f"{self.root}/work")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.metrics = MetricSeries(job.metrics)
        self.output_dir = ""
        self._runs = 0

    @property
    def python(self) -> str:
        return settings.MARGIN_JOBS["PYTHON"] or sys.executable

    def save_snapshot(self, snapshot: dict) -> None:
        Job.objects.filter(pk=self.job.pk).update(data_snapshot=snapshot)
        self.job.data_snapshot = snapshot

    def log(self, text: str) -> None:
        if job_progress(job_id=self.job.pk, log_append=text.rstrip("\n") + "\n"):
            raise JobCancelled()

    def run_core(
        self,
        module: str,
        command: str,
        config: Any,
        *,
        weight: tuple[float, float] = (0.0, 1.0),
        nprocs: int = 1,
    ) -> None:
        """Run `python -m module command` with `config` as its flags (under torchrun when
        nprocs > 1) to completion. Its output goes to the job's log; its progress lines
        (`mlcore.progress`) move the job's progress within `weight`, set the progress detail
        and add their metrics to the job's series. Raises JobCancelled when a cancel is
        requested (the core is stopped) and ProcessFailed when it exits with an error."""
        self._runs += 1
        progress_file = self.work_dir / f"progress-{self._runs}.jsonl"
        progress_file.unlink(missing_ok=True)
        argv = core_argv(self.python, module, command, config, nprocs)
        self.log("$ " + " ".join(argv))
        core = CoreProcess(argv, env=child_env(progress_file), cwd=settings.BASE_DIR)
        reader = ProgressReader(progress_file)
        interval = min(settings.MARGIN_JOBS["HEARTBEAT_SECONDS"], 1.0)
        try:
            while core.running:
                time.sleep(interval)
                self._report(core, reader, weight)
        except JobCancelled:
            core.stop()
            raise
        code = core.wait()
        self._report(core, reader, weight, final=True)
        if code != 0:
            raise ProcessFailed(f"{module} {command} exited with {code}:\n" + "\n".join(core.tail))

    def _report(
        self, core: CoreProcess, reader: ProgressReader, weight: tuple[float, float], final=False
    ) -> None:
        updates = reader.read()
        lines = core.lines()
        fraction, detail, metrics_changed = None, "", False
        for update in updates:
            if isinstance(update.get("fraction"), int | float):
                fraction = update["fraction"]
            detail = progress_detail(update)
            metrics_changed |= self.metrics.add(update)
            if update.get("message"):
                lines.append(f"[{update.get('stage', '')}] {update['message']}")
        start, end = weight
        progress = end if final else None
        if fraction is not None and not final:
            progress = start + (end - start) * min(max(fraction, 0.0), 1.0)
        cancel = job_progress(
            job_id=self.job.pk,
            progress=progress,
            detail=detail,
            log_append="".join(line + "\n" for line in lines),
            metrics=self.metrics.to_json() if metrics_changed else None,
        )
        if cancel:
            raise JobCancelled()

    def publish(self, source: Path, name: str) -> str:
        """Move a complete folder to its final place; returns its path under ARTIFACT_ROOT."""
        relative = f"{self.root}/{name}"
        target = artifact_path(relative)
        if target.exists():
            shutil.rmtree(target)
        os.replace(source, target)
        return relative
