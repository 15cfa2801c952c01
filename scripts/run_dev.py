"""`make run`: the whole platform on embedded defaults, in the foreground.

Migrates the database (SQLite under var/ unless DATABASE_URL says otherwise), collects static
files, creates the demo (`manage.py seed_demo`, development mode only: three logins and, on a
site without batches, two open batches of real prompts whose first pairs are requested at
once), then starts

    web     manage.py runserver HOST:PORT          (HOST 127.0.0.1, PORT 8000)
    worker  celery worker, queues default and gpu  (filesystem broker unless CELERY_BROKER_URL)
    beat    celery beat, Margin's locked scheduler (work/beat.py: one beat fires at a time)

with their output prefixed, and prints the URL and, for each demo login, what to do first and
where. Ctrl-C (or SIGTERM) stops all three; if one of them dies, the others are stopped too and
the exit status is 1.

Environment: PORT, HOST, WORKER_CONCURRENCY (2), DJANGO_SETTINGS_MODULE (config.settings.dev),
MARGIN_TORCH_THREADS (torch threads per worker process; default: the cores / concurrency).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
COLOURS = {"web": "\033[36m", "worker": "\033[35m", "beat": "\033[33m"}
RESET = "\033[0m"
USE_COLOUR = sys.stdout.isatty()


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


def manage(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "manage.py", *args],
        cwd=ROOT,
        text=True,
        capture_output=capture,
        check=False,
    )


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def pump(name: str, stream) -> None:
    prefix = f"{name:>6} | "
    if USE_COLOUR:
        prefix = f"{COLOURS.get(name, '')}{prefix}{RESET}"
    for line in stream:
        sys.stdout.write(prefix + line)
        sys.stdout.flush()


def prepare(url: str) -> str:
    """Migrate, collect static files, seed the demo; return seed_demo's output."""
    var_dir = Path(os.environ.get("MARGIN_VAR_DIR", ROOT / "var"))
    var_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("CELERY_BROKER_URL", "filesystem://").startswith("filesystem"):
        for sub in ("queue", "processed"):
            (var_dir / "broker" / sub).mkdir(parents=True, exist_ok=True)

    say("migrating the database")
    if manage("migrate", "--noinput", "-v", "1").returncode != 0:
        sys.exit("[run] migrate failed")
    if manage("collectstatic", "--noinput", "-v", "0").returncode != 0:
        sys.exit("[run] collectstatic failed")

    say("creating the demo (seed_demo)")
    # Its standard output is the banner's; what it logs (stderr) is shown now, prefixed.
    proc = subprocess.run(
        [PY, "manage.py", "seed_demo", "--url", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in proc.stderr.splitlines():
        print(f"  seed | {line}", flush=True)
    if proc.returncode != 0:
        sys.exit("[run] seed_demo failed")
    return proc.stdout.strip("\n")


def banner(url: str, logins: str) -> str:
    lines = ["", "=" * 78, f"Margin is running: {url}"]
    if logins:
        lines += [
            "Log in as (development only), and what to do first:",
            *("  " + x for x in logins.splitlines()),
            "The workspace shows how long the first pair takes (the model warms up first).",
            "The whole loop without people: the ML engineer's Iterations page, or",
            "  .venv/bin/python manage.py demo_loop   (simulated annotators, two reward",
            "  models, one rejection-sampling round, all on CPU; see README.md)",
        ]
    lines += [
        f"Django admin: {url}admin/   API docs: {url}api/docs/",
        "Ctrl-C stops the web server, the worker and beat.",
        "=" * 78,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # Absolute, so that the worker and beat (started in var/) use the same folder as the web.
    os.environ["MARGIN_VAR_DIR"] = str(
        Path(os.environ.get("MARGIN_VAR_DIR", ROOT / "var")).resolve()
    )
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    concurrency = os.environ.get("WORKER_CONCURRENCY", "2")
    if not port_is_free(host, port):
        sys.exit(f"[run] {host}:{port} is already in use; choose another with PORT=...")

    url = f"http://{host}:{port}/"
    try:
        logins = prepare(url)
    except KeyboardInterrupt:
        say("interrupted")
        return 130

    commands = {
        "web": [PY, "manage.py", "runserver", f"{host}:{port}"],
        "worker": [
            PY,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "default,gpu",
            f"--concurrency={concurrency}",
            "-n",
            "margin-dev@%h",
            "-l",
            "INFO",
        ],  # fmt: skip
        "beat": [
            PY,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "INFO",
            "--scheduler",
            "work.beat:LockedScheduler",
        ],  # fmt: skip
    }
    procs: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()

    def stop_all(*_args) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)

    # kombu's filesystem transport writes its control exchange under ./control: keep that (and
    # any other relative file a worker writes) under var/ rather than in the checkout.
    var_dir = Path(os.environ["MARGIN_VAR_DIR"])
    celery_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for name, cmd in commands.items():
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT if name == "web" else var_dir,
            env=None if name == "web" else celery_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches only this supervisor; it stops them in order
        )
        procs[name] = proc
        threading.Thread(target=pump, args=(name, proc.stdout), daemon=True).start()

    status = 0
    if wait_for_port(host, port, 60) and not stopping.is_set():
        print(banner(url, logins), flush=True)
    elif not stopping.is_set():
        say(f"the web server did not open {host}:{port} within 60 s")
        status = 1
        stopping.set()

    while not stopping.wait(0.5):
        for name, proc in procs.items():
            if proc.poll() is not None:
                say(f"{name} exited with status {proc.returncode}; stopping the others")
                status = 1
                stopping.set()
                break

    say("stopping")
    for name in ("web", "beat", "worker"):
        proc = procs[name]
        if proc.poll() is None:
            try:
                if name == "worker":
                    proc.terminate()  # warm shutdown: the main process stops its pool itself
                else:
                    os.killpg(proc.pid, signal.SIGTERM)  # runserver's autoreloader child too
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in time; killing it")
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers in its group (autoreloader, pool)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    say("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
