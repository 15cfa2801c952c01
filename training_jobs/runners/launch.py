"""Starting a Django-free core as a child process: its command line (under torchrun for
several processes), its environment, and its output read line by line without blocking."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Any

from mlcore.cli import to_argv
from mlcore.progress import ENV as PROGRESS_ENV

PR_SET_PDEATHSIG = 1
# A line ends at \n (or \r\n); text ended by a lone \r is a terminal bar redrawing itself.
_LINE_END = re.compile(rb"\r\n|\n|\r")


def launcher(python: str, nprocs: int = 1) -> list[str]:
    """What runs a module: `python`, or with nprocs > 1 torchrun on this node on a free port:
    `python -m torch.distributed.run --standalone --nproc-per-node N`."""
    if nprocs == 1:
        return [python]
    return [python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nprocs)]


def core_argv(python: str, module: str, command: str, config: Any, nprocs: int = 1) -> list[str]:
    """`python -m module command --flags...`, under torchrun with nprocs > 1 (`launcher`)."""
    return [*launcher(python, nprocs), "-m", module, command, *to_argv(config)]


def child_env(progress_file: Path | None = None) -> dict[str, str]:
    """The environment of a core's process: unbuffered output, no library download bars in
    the log, and the file the core writes its progress lines to (`mlcore.progress`)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    if progress_file is not None:
        env[PROGRESS_ENV] = str(progress_file)
    return env


def _die_with_parent() -> None:
    """The core dies with the worker (a SIGKILLed worker must not leave it running)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class CoreProcess:
    """A running core; `lines()` hands over the output lines read since the last call."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.argv = argv
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # stop() reaches torchrun's processes too
        )
        self.tail: deque[str] = deque(maxlen=40)
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        buffer = b""
        while chunk := self.process.stdout.read1(4096):
            buffer += chunk
            start = 0
            for end in _LINE_END.finditer(buffer):
                raw = buffer[start : end.start()]
                start = end.end()
                line = raw.decode("utf-8", "replace").rstrip()
                if line and end.group() != b"\r":
                    with self._lock:
                        self._lines.append(line)
                        self.tail.append(line)
            buffer = buffer[start:]
        if buffer.strip():
            with self._lock:
                self._lines.append(buffer.decode("utf-8", "replace").rstrip())

    def lines(self) -> list[str]:
        with self._lock:
            lines, self._lines = self._lines, []
        return lines

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self) -> int:
        code = self.process.wait()
        self._reader.join(timeout=5)
        return code

    def stop(self) -> None:
        """SIGTERM to the core and the processes it started, then SIGKILL after 15 s."""
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait()

    def _signal(self, number: int) -> None:
        try:
            os.killpg(self.process.pid, number)
        except ProcessLookupError:
            pass
