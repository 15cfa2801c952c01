"""Import and export at the paper's scale on PostgreSQL.

    scripts/testenv.sh .venv/bin/python bench/foundation_import_export.py
    scripts/testenv.sh .venv/bin/python bench/foundation_import_export.py --prompts 250000 \
        --judgments 1418091

1. Import 250,000 prompts (the paper's largest weekly batch) from JSONL with
   `manage.py import_prompts` (all or nothing, validated line by line).
2. Export 1,418,091 judgments (the paper's whole collection) to TRL JSONL with
   `manage.py export_comparisons`; the rows are inserted with SQL first.

Each command runs in its own process; wall time and that process's peak RSS are printed.
Needs DATABASE_URL pointing at PostgreSQL (scripts/testenv.sh provides one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rewardtrain.grades import GRADES

ROOT = Path(__file__).resolve().parent.parent
WORDS = (
    "how can i make bread rise faster what is the capital of france explain gradient descent "
    "write a short poem about rain tell me a joke about cats why is the sky blue"
).split()


def run(args: list[str]) -> tuple[float, float, float]:
    """Run a manage.py command in a child; return (wall seconds, the child's CPU seconds,
    peak RSS of the largest child so far in MB). CPU seconds are what a busy machine
    distorts least."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, after.ru_maxrss / 1024


def write_prompts(path: Path, count: int) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            text = " ".join(rng.choices(WORDS, k=rng.randint(6, 30))) + "?"
            handle.write(json.dumps({"id": f"p{i}", "prompt": text}) + "\n")


def fill_judgments(count: int) -> None:
    """Insert `count` judged pairs with SQL (responses, pairs, judgments, 50 annotators)."""
    import django

    django.setup()
    from django.db import connection

    from annotation.models import PromptBatch

    batch = PromptBatch.objects.create(name="bench-export", stage="helpfulness", ordinal=1)
    context = json.dumps(
        [
            {"role": "user", "content": "Explain gradient descent to a new student, please."},
            {"role": "assistant", "content": "Gradient descent walks downhill on the loss."},
            {"role": "user", "content": "And what does the learning rate change?"},
        ]
    )
    text = "The learning rate sets the size of each step; " * 8
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) SELECT '!', false, 'bench-' || g, '', '', "
            "'', false, true, now() FROM generate_series(1, 50) g"
        )
        cursor.execute("SELECT min(id) FROM auth_user WHERE username LIKE 'bench-%%'")
        first_user = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO annotation_response (text, variant_label, temperature, top_p, seed, "
            "prompt_tokens, completion_tokens, generation_seconds, finish_reason) "
            "SELECT %s || g, 'policy-v' || (g %% 2), 0.7 + (g %% 50) / 100.0, 0.95, g, 60, 200, "
            "1.5, 'stop' FROM generate_series(1, %s) g",
            [text, 2 * count],
        )
        cursor.execute("SELECT min(id) FROM annotation_response")
        first_response = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO annotation_responsepair (batch_id, turn, context, context_truncated, "
            "response_a_id, response_b_id, origin, status, overlap, taken, is_gold, gold_chosen, "
            "gold_grade, attempts, last_error, created_at) SELECT %s, 2, %s::jsonb, false, "
            "%s + 2 * (g - 1), %s + 2 * (g - 1) + 1, 'generated', 'done', 1, 1, false, '', '', "
            "1, '', now() FROM generate_series(1, %s) g",
            [batch.pk, context, first_response, first_response, count],
        )
        cursor.execute("SELECT min(id) FROM annotation_responsepair")
        first_pair = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO annotation_judgment (pair_id, annotator_id, origin, chosen, grade, "
            "a_safe, b_safe, rationale, seconds_spent, created_at) SELECT %s + g - 1, "
            "%s + g %% 50, 'annotator', CASE WHEN g %% 2 = 0 THEN 'a' ELSE 'b' END, "
            "(%s::text[])[1 + g %% 4], NULL, NULL, '', 20, now() FROM generate_series(1, %s) g",
            [first_pair, first_user, list(GRADES), count],
        )
        cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=250_000)
    parser.add_argument("--judgments", type=int, default=1_418_091)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("run under scripts/testenv.sh (needs DATABASE_URL=postgres://...)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    sys.path.insert(0, str(ROOT))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        prompts = Path(tmp) / "prompts.jsonl"
        write_prompts(prompts, args.prompts)
        seconds, cpu, peak = run(
            ["import_prompts", str(prompts), "--batch", "bench-import", "--stage", "helpfulness"]
        )
        results["import"] = {
            "rows": args.prompts,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "peak_rss_mb": peak,
        }
        print(
            f"import: {args.prompts} prompts in {seconds:.1f} s wall, {cpu:.1f} s CPU "
            f"({args.prompts / seconds:,.0f} rows/s), child peak RSS {peak:.0f} MB"
        )

        start = time.perf_counter()
        fill_judgments(args.judgments)
        print(
            f"(inserted {args.judgments} judgments with SQL in {time.perf_counter() - start:.0f} s)"
        )
        out = Path(tmp) / "trl.jsonl"
        seconds, cpu, peak = run(
            ["export_comparisons", "--format", "trl", "-o", str(out), "--no-progress"]
        )
        lines = sum(1 for _ in out.open("rb"))
        results["export"] = {
            "rows": lines,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "peak_rss_mb": peak,
            "bytes": out.stat().st_size,
        }
        print(
            f"export: {lines} judgments in {seconds:.1f} s wall, {cpu:.1f} s CPU "
            f"({lines / seconds:,.0f} rows/s), "
            f"{out.stat().st_size / 2**20:.0f} MiB, child peak RSS {peak:.0f} MB"
        )
    out_dir = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "out"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "foundation_import_export.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
