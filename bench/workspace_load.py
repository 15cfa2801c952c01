"""Annotator-loop load test: gunicorn + PostgreSQL on loopback, many simulated annotators.

    make bench BENCH=workspace_load                  # or:
    scripts/testenv.sh .venv/bin/python bench/workspace_load.py [--capacity-seconds 30] ...

Without DATABASE_URL the script re-runs itself under scripts/testenv.sh (a throwaway
PostgreSQL). It seeds a batch of pairs with realistic Markdown responses, starts gunicorn with
the production settings, and runs three phases:

  capacity     closed loop, 10 clients, no pause: POST submit, whose htmx answer is the next
               pair (one round trip per annotation, as the browser does)
  capacity2    the same with a separate GET of the next pair before each submit (two requests
               per annotation, like Label Studio's loop)
  latency      200 annotators, each pausing ~10 s (exponential) between annotations:
               GET next pair, then POST submit; p50/p95/p99 of each

CPU-seconds of gunicorn (master + workers) and PostgreSQL (postmaster, live backends and
reaped ones) are read from /proc before and after each phase. Afterwards the database is
checked: no pair leased beyond its overlap, every acknowledged submit stored exactly once.
Results go to $BENCH_OUT/workspace_load.json (default bench/out).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rewardtrain.grades import GRADES

ROOT = Path(__file__).resolve().parent.parent
CLK = os.sysconf("SC_CLK_TCK")
FORM = re.compile(
    r'hx-post="/assignments/(\d+)/submit/".*?name="idempotency_key" value="([0-9a-f]+)"', re.S
)
ANSWER = """Here is a short answer with some structure.

1. First, **check the input**: a list of `n` numbers.
2. Then sort it and take the middle element.

```python
def median(xs: list[float]) -> float:
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
```

This runs in O(n log n). For streaming data, keep two heaps instead; <not html> stays text.
"""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=12000)
    p.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    p.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    p.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    p.add_argument("--capacity-clients", type=int, default=10)
    p.add_argument("--capacity-seconds", type=float, default=30.0)
    p.add_argument("--latency-clients", type=int, default=200)
    p.add_argument("--latency-seconds", type=float, default=90.0)
    p.add_argument("--think-seconds", type=float, default=10.0)
    p.add_argument("--phases", default="capacity,capacity2,latency")
    return p.parse_args()


# ---- server and database processes ------------------------------------------------------------


def cpu_seconds(pid: int, children: bool) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # reaped children
    return ticks / CLK


def child_pids(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(d.name))
    return out


def tree_cpu(root: int) -> float:
    return cpu_seconds(root, children=True) + sum(
        cpu_seconds(c, children=False) for c in child_pids(root)
    )


def postmaster_pid() -> int:
    pgdata = os.environ.get("TESTENV_PGDATA")
    if not pgdata:
        return 0
    return int(Path(pgdata, "postmaster.pid").read_text().split()[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- seeding ----------------------------------------------------------------------------------


def seed(n_pairs: int, n_users: int) -> tuple[int, list[tuple[str, str]]]:
    """A batch of ready pairs and logged-in annotators; returns (batch id, [(session, csrf)])."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore

    from annotation import roles
    from annotation.models import PromptBatch, Response, ResponsePair

    roles.ensure_role_groups()
    batch = PromptBatch.objects.create(
        name=f"bench-{secrets.token_hex(3)}", stage="helpfulness", ordinal=1, status="open",
        max_turns=1, overlap=1, guidelines="Prefer the more helpful answer.",
    )  # fmt: skip
    responses = Response.objects.bulk_create(
        Response(text=f"{ANSWER}\n(variant {i % 2}, sample {i})", variant_label=f"v{i % 2}")
        for i in range(2 * n_pairs)
    )
    ResponsePair.objects.bulk_create(
        ResponsePair(
            batch=batch,
            context=[{"role": "user", "content": f"How do I compute a median? ({i})"}],
            response_a=responses[2 * i],
            response_b=responses[2 * i + 1],
            status="ready",
            overlap=1,
        )
        for i in range(n_pairs)
    )
    group = Group.objects.get(name=roles.ANNOTATOR)
    sessions = []
    for i in range(n_users):
        user = User.objects.create_user(f"bench{batch.pk}-{i}", password=None)
        user.groups.add(group)
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append((store.session_key, secrets.token_hex(16)))
    return batch.pk, sessions


# ---- clients ----------------------------------------------------------------------------------


class Annotator:
    def __init__(self, port: int, session: tuple[str, str], batch_id: int):
        self.port, self.batch_id = port, batch_id
        self.session, self.csrf = session
        self.conn: http.client.HTTPConnection | None = None
        self.form: tuple[str, str] | None = None
        self.acknowledged: list[int] = []
        self.errors = 0
        self.stop = 0.0

    def _request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {
            "Cookie": f"sessionid={self.session}; csrftoken={self.csrf}",
            "X-CSRFToken": self.csrf,
            "HX-Request": "true",
            "Host": "127.0.0.1",
        }
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, text
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def next_pair(self) -> float:
        start = time.perf_counter()
        status, text = self._request("GET", f"/batches/{self.batch_id}/work/")
        elapsed = time.perf_counter() - start
        self._read_form(status, text)
        return elapsed

    def submit(self) -> float:
        assignment, key = self.form
        body = (
            f"idempotency_key={key}&side={random.choice(['left', 'right'])}"
            f"&grade={random.choice(GRADES[1:])}"
            f"&seconds={random.uniform(5, 30):.1f}"
        )
        start = time.perf_counter()
        status, text = self._request("POST", f"/assignments/{assignment}/submit/", body)
        elapsed = time.perf_counter() - start
        if status == 200 and "Saved." in text:
            self.acknowledged.append(int(assignment))
        else:
            self.errors += 1
        self._read_form(status, text)
        return elapsed

    def _read_form(self, status: int, text: str) -> None:
        match = FORM.search(text) if status == 200 else None
        if match is None:
            self.errors += status != 200
            self.form = None
        else:
            self.form = (match.group(1), match.group(2))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
    }


def run_phase(name, clients, seconds, loop, gunicorn_pid, pg_pid):
    stop = time.monotonic() + seconds
    nexts: list[float] = []
    submits: list[float] = []
    lock = threading.Lock()

    def work(client: Annotator) -> None:
        local_next, local_submit = [], []
        while time.monotonic() < stop:
            loop(client, local_next, local_submit)
        with lock:
            nexts.extend(local_next)
            submits.extend(local_submit)

    for client in clients:
        client.stop = stop
    print(f"{name}: starting, load average {os.getloadavg()[0]:.2f}", flush=True)
    cpu0 = (tree_cpu(gunicorn_pid), tree_cpu(pg_pid) if pg_pid else 0.0)
    t0 = time.monotonic()
    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    cpu1 = (tree_cpu(gunicorn_pid), tree_cpu(pg_pid) if pg_pid else 0.0)
    done = len(submits)
    web_cpu, db_cpu = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    result = {
        "phase": name,
        "clients": len(clients),
        "seconds": round(wall, 1),
        "annotations": done,
        "annotations_per_s": round(done / wall, 1),
        "cpu_s_web": round(web_cpu, 2),
        "cpu_s_db": round(db_cpu, 2),
        "cpu_s_per_annotation": round((web_cpu + db_cpu) / max(done, 1), 4),
        "next_pair": summary(nexts),
        "submit": summary(submits),
        "errors": sum(c.errors for c in clients),
        "loadavg_1min_end": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result), flush=True)
    return result


def closed_loop_one_trip(client, nexts, submits):
    if client.form is None:
        nexts.append(client.next_pair())
        if client.form is None:
            time.sleep(0.05)
            return
    submits.append(client.submit())


def closed_loop_two_requests(client, nexts, submits):
    nexts.append(client.next_pair())
    if client.form is None:
        time.sleep(0.05)
        return
    submits.append(client.submit())


def paced_loop(think: float):
    def loop(client, nexts, submits):
        delay = random.expovariate(1.0 / think)
        if time.monotonic() + delay > client.stop:
            time.sleep(max(0.0, client.stop - time.monotonic()))
            return
        time.sleep(delay)
        nexts.append(client.next_pair())
        if client.form is not None:
            submits.append(client.submit())

    return loop


# ---- main -------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        os.execv(
            str(ROOT / "scripts" / "testenv.sh"),
            [str(ROOT / "scripts" / "testenv.sh"), sys.executable, *sys.argv],
        )
    out_dir = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "out"))
    out_dir.mkdir(parents=True, exist_ok=True)
    static_root = tempfile.mkdtemp(prefix="margin-bench-static-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_CONN_MAX_AGE": "600",
        "DJANGO_STATIC_ROOT": static_root,
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [py, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    import django

    django.setup()
    n_users = max(args.capacity_clients, args.latency_clients) * 2
    batch_id, sessions = seed(args.pairs, n_users)
    from django.db import connections

    connections.close_all()

    port = free_port()
    gunicorn = subprocess.Popen(
        [
            str(Path(py).parent / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}",
            "-w", str(args.workers), "--worker-class", args.worker_class,
            "--threads", str(args.threads), "--keep-alive", "30", "--log-level", "warning",
            "--backlog", "2048",
        ],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        pg = postmaster_pid()
        results = []
        offset = 0
        phases = [p.strip() for p in args.phases.split(",") if p.strip()]
        warm = [Annotator(port, sessions[-1 - i], batch_id) for i in range(args.workers * 2)]
        for client in warm:  # connections, imports and template caches of every worker
            client.next_pair()
        all_clients = list(warm)
        for phase in phases:
            if phase in ("capacity", "capacity2"):
                n, seconds = args.capacity_clients, args.capacity_seconds
                loop = closed_loop_one_trip if phase == "capacity" else closed_loop_two_requests
            else:
                n, seconds = args.latency_clients, args.latency_seconds
                loop = paced_loop(args.think_seconds)
            clients = [Annotator(port, s, batch_id) for s in sessions[offset : offset + n]]
            offset += n
            all_clients += clients
            results.append(run_phase(phase, clients, seconds, loop, gunicorn.pid, pg))
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)
        shutil.rmtree(static_root, ignore_errors=True)

    from django.db.models import Count, F

    from annotation.models import Assignment, Judgment, ResponsePair

    acknowledged = [a for c in all_clients for a in c.acknowledged]
    stored = set(
        Judgment.objects.filter(pair__batch_id=batch_id).values_list("assignment_id", flat=True)
    )
    over = ResponsePair.objects.filter(batch_id=batch_id, taken__gt=F("overlap")).count()
    double = (
        Assignment.objects.filter(pair__batch_id=batch_id, status__in=["leased", "completed"])
        .values("pair_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    judged_twice = (
        Judgment.objects.filter(pair__batch_id=batch_id)
        .values("pair_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    checks = {
        "acknowledged_submits": len(acknowledged),
        "acknowledged_twice": len(acknowledged) - len(set(acknowledged)),
        "lost_submits": len(set(acknowledged) - stored),
        "judgments_stored": len(stored),
        "pairs_taken_beyond_overlap": over,
        "pairs_leased_twice": double,
        "pairs_judged_twice": judged_twice,
    }
    print(json.dumps(checks), flush=True)
    report = {"args": vars(args), "cpus": os.cpu_count(), "phases": results, "checks": checks}
    (out_dir / "workspace_load.json").write_text(json.dumps(report, indent=2))
    ok = not (checks["lost_submits"] or over or double or judged_twice)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
