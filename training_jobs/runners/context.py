"""What a runner gets: its folders under ARTIFACT_ROOT, a way to run a Django-free core as a
subprocess with live progress and cancellation, and an atomic publish of the result."""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from django.conf import settings

from config.artifacts import artifact_path

from ..models import Job
from ..services.jobs import job_progress

TQDM = re.compile(r"^(?P<desc>[^|]*?)\s*(?P<pct>\d+)%\|.*?\|\s*(?P<n>\d+)/(?P<total>\d+)")
PR_SET_PDEATHSIG = 1


class JobCancelled(Exception):
    pass


class ProcessFailed(Exception):
    pass


def _die_with_parent() -> None:
    """The core dies with the worker (a SIGKILLed worker must not leave it running)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def child_env() -> dict[str, str]:
    """The environment of a core's process. Only the core's own bars may move the job's
    progress: a library's bar (transformers' "Loading weights" reaching 100%) would otherwise
    read as the job being nearly done, so those are switched off."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


class JobContext:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.root = f"jobs/{job.pk}"
        self.work_dir = artifact_path(f"{self.root}/work")
        self.work_dir.mkdir(parents=True, exist_ok=True)

    @property
    def python(self) -> str:
        return settings.MARGIN_JOBS["PYTHON"] or sys.executable

    def save_snapshot(self, snapshot: dict) -> None:
        Job.objects.filter(pk=self.job.pk).update(data_snapshot=snapshot)
        self.job.data_snapshot = snapshot

    def log(self, text: str) -> None:
        if job_progress(job_id=self.job.pk, log_append=text.rstrip("\n") + "\n"):
            raise JobCancelled()

    def run_process(self, args: list[str], *, weight: tuple[float, float] = (0.0, 1.0)) -> None:
        """Run a core (`python -m ...`) to completion, streaming its output into the job's
        log and its progress bars into the job's progress, scaled into `weight`."""
        env = child_env()
        self.log("$ " + " ".join(args))
        process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            env=env,
            preexec_fn=_die_with_parent,
        )
        tail: deque[str] = deque(maxlen=40)
        state = {"lines": [], "detail": "", "fraction": None}
        lock = threading.Lock()
        reader = threading.Thread(target=self._read, args=(process, tail, state, lock), daemon=True)
        reader.start()
        interval = settings.MARGIN_JOBS["HEARTBEAT_SECONDS"]
        try:
            while process.poll() is None:
                time.sleep(min(interval, 1.0))
                self._report(state, lock, weight)
        except JobCancelled:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
            raise
        reader.join(timeout=5)
        self._report(state, lock, weight, final=True)
        if process.returncode != 0:
            raise ProcessFailed(
                f"{args[2] if len(args) > 2 else args[0]} exited with {process.returncode}:\n"
                + "\n".join(tail)
            )

    def _read(self, process, tail, state, lock) -> None:
        buffer = b""
        assert process.stdout is not None
        while chunk := process.stdout.read1(4096):
            buffer += chunk
            *parts, buffer = re.split(rb"[\r\n]", buffer)
            for raw in parts:
                line = raw.decode("utf-8", "replace").rstrip()
                if not line:
                    continue
                match = TQDM.search(line)
                with lock:
                    if match:
                        total = int(match["total"]) or 1
                        state["fraction"] = int(match["n"]) / total
                        state["detail"] = line[-300:]
                    else:
                        state["lines"].append(line)
                        tail.append(line)

    def _report(self, state, lock, weight, final: bool = False) -> None:
        with lock:
            lines, state["lines"] = state["lines"], []
            detail, fraction = state["detail"], state["fraction"]
        start, end = weight
        progress = None if fraction is None else start + (end - start) * fraction
        if final:
            progress = end
        text = "".join(line + "\n" for line in lines)
        if job_progress(job_id=self.job.pk, progress=progress, detail=detail, log_append=text):
            raise JobCancelled()

    def publish(self, source: Path, name: str) -> str:
        """Move a complete folder to its final place; returns its path under ARTIFACT_ROOT."""
        relative = f"{self.root}/{name}"
        target = artifact_path(relative)
        if target.exists():
            shutil.rmtree(target)
        os.replace(source, target)
        return relative
