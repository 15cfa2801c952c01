"""Time to the first pair: `make run` on a fresh site, then the demo annotator waiting to judge;
with --loop, then the whole demo loop (`manage.py demo_loop`) on the same site.

    .venv/bin/python bench/first_pair.py --out bench/out/first_pair.json
    .venv/bin/python bench/first_pair.py --loop --out bench/out/first_run.json

Starts `scripts/run_dev.py` (what `make run` runs after installing) on a fresh SQLite database in
a temporary folder and a free port, and measures from the start: when the URL is printed, and
when each demo batch's workspace first shows a pair to judge to the demo annotator (logged in
over HTTP, polling the workspace page as the browser does). It also records what the page said
about the wait on the first poll ("about N s"). The run is stopped with Ctrl-C's signal.

With --loop, `manage.py demo_loop` then runs against the same site (its worker runs the jobs)
and each step's time is taken from the command's report ("job N succeeded in S s").

Options: --concurrency (worker processes, default 2 as in `make run`), --threads (torch threads
per worker process; default: cores / concurrency), --timeout (s), --loop, --loop-pairs. The
default model folder must exist (`make install` builds it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BATCH_LINK = re.compile(r'href="/batches/(\d+)/work/"')
ETA = re.compile(r'class="eta">(\d+)<')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Run:
    """scripts/run_dev.py in its own process group, its output kept and scanned for the URL."""

    def __init__(self, var_dir: Path, port: int, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.url_at: float | None = None
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "scripts/run_dev.py"],
            cwd=ROOT,
            env={**os.environ, **env, "MARGIN_VAR_DIR": str(var_dir), "PORT": str(port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if self.url_at is None and line.startswith("Margin is running:"):
                self.url_at = time.monotonic()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def login(client: httpx.Client, username: str, password: str) -> None:
    page = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    answer = client.post(
        "/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": str(client.base_url) + "/login/"},
    )
    assert answer.status_code in (200, 302) and "sessionid" in client.cookies, "login failed"


STEP = re.compile(r"^step (\d+) of \d+: (.*)$")
STEP_DONE = re.compile(r"^\s+job (\d+) (\w+) in (\d+) s$")


def demo_loop(var_dir: Path, args: argparse.Namespace) -> dict:
    """`manage.py demo_loop` on the running site; its steps' times from its report."""
    env = {
        **os.environ,
        "MARGIN_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "demo_loop", "--pairs", str(args.loop_pairs)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the progress bars
        text=True,
        timeout=args.timeout,
        check=False,
    )
    steps, title = [], ""
    for line in done.stdout.splitlines():
        if match := STEP.match(line):
            title = match[2]
        elif match := STEP_DONE.match(line):
            steps.append({"step": title, "state": match[2], "seconds": int(match[3])})
    return {
        "total_s": round(time.monotonic() - started, 1),
        "exit_status": done.returncode,
        "pairs_per_batch": args.loop_pairs,
        "steps": steps,
    }


def measure(args: argparse.Namespace) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix="margin-first-pair-"))
    port = args.port or free_port()
    env = {"WORKER_CONCURRENCY": str(args.concurrency)}
    if args.threads:
        env["MARGIN_TORCH_THREADS"] = str(args.threads)
    load_start = os.getloadavg()
    run = Run(var_dir, port, env)
    deadline = run.started + args.timeout
    result: dict = {"first_pair_s": {}, "first_estimate_s": {}}
    try:
        while run.url_at is None:
            if run.process.poll() is not None or time.monotonic() > deadline:
                tail = "".join(run.lines[-40:])
                raise SystemExit(f"run_dev.py stopped or never printed its URL:\n{tail}")
            time.sleep(0.2)
        result["url_printed_s"] = round(run.url_at - run.started, 1)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            login(client, "annotator", "margin-annotator")
            batches = sorted(set(BATCH_LINK.findall(client.get("/").text)), key=int)
            assert batches, "the demo annotator sees no open batch"
            waiting = set(batches)
            while waiting and time.monotonic() < deadline:
                for batch in sorted(waiting):
                    html = client.get(f"/batches/{batch}/work/").text
                    if batch not in result["first_estimate_s"]:
                        eta = ETA.search(html)
                        result["first_estimate_s"][batch] = int(eta[1]) if eta else None
                    if 'id="judge"' in html:
                        result["first_pair_s"][batch] = {
                            "from_start": round(time.monotonic() - run.started, 1),
                            "from_url": round(time.monotonic() - run.url_at, 1),
                        }
                        waiting.discard(batch)
                time.sleep(1.0)
            result["timed_out"] = sorted(waiting)
        if args.loop:
            result["demo_loop"] = demo_loop(var_dir, args)
    finally:
        run.stop()
    result["machine"] = {
        "cpus": os.cpu_count(),
        "load_avg_start": load_start,
        "load_avg_end": os.getloadavg(),
        "worker_concurrency": args.concurrency,
        "torch_threads": args.threads or "cores / concurrency",
    }
    result["var_dir"] = str(var_dir)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/out/first_pair.json")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--loop", action="store_true", help="then run the whole demo loop")
    parser.add_argument("--loop-pairs", type=int, default=12, help="demo_loop --pairs")
    args = parser.parse_args()
    result = measure(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
