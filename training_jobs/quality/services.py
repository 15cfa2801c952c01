"""Reward-model scores of annotated responses, computed by the Django-free scorer
(`python -m rewardtrain score`) in a subprocess and stored as ResponseScore rows."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from django.conf import settings
from django.db.models import Q

from annotation.models import ResponsePair
from config.artifacts import artifact_path
from work.sending import outbox_call

from ..models import ModelVersion, ResponseScore

SCORE_TIMEOUT_SECONDS = 6 * 3600


class ScoringError(Exception):
    pass


def _pairs_to_score(version: ModelVersion, batch_id: int | None):
    """Pairs with both responses where at least one is not yet scored by this version."""
    pairs = ResponsePair.objects.filter(response_a__isnull=False, response_b__isnull=False)
    if batch_id is not None:
        pairs = pairs.filter(batch_id=batch_id)
    scored = ResponseScore.objects.filter(model_version=version).values("response_id")
    return pairs.filter(~Q(response_a__in=scored) | ~Q(response_b__in=scored)).select_related(
        "response_a", "response_b"
    )


def responses_score(*, version_id: int, batch_id: int | None = None) -> int:
    """Score the responses of every pair (of one batch, or all) that this reward-model
    version has not scored yet; returns how many scores were stored.

    Each pair becomes one input line `{"prompt": context, "responses": [a, b]}` so both
    responses share one packed context, exactly as they were shown to the annotator."""
    version = ModelVersion.objects.get(pk=version_id)
    if not version.is_reward_model:
        raise ScoringError(f"{version.name} is a policy, not a reward model")
    pairs = list(_pairs_to_score(version, batch_id).order_by("pk"))
    if not pairs:
        return 0
    folder = artifact_path(f"scores/{version.pk}/{uuid.uuid4().hex}")
    folder.mkdir(parents=True)
    source, target = folder / "input.jsonl", folder / "scored.jsonl"
    with source.open("w", encoding="utf-8") as handle:
        for pair in pairs:
            record = {
                "prompt": pair.context,
                "responses": [pair.response_a.text, pair.response_b.text],
                "response_ids": [pair.response_a_id, pair.response_b_id],
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    python = settings.MARGIN_JOBS["PYTHON"] or sys.executable
    completed = subprocess.run(
        [python, "-m", "rewardtrain", "score", "--model", str(version.folder)]
        + ["--input", str(source), "--output", str(target)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=SCORE_TIMEOUT_SECONDS,
    )
    if completed.returncode != 0:
        raise ScoringError(
            f"rewardtrain score exited with {completed.returncode}: {completed.stderr[-3000:]}"
        )
    rows = []
    with target.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                for response_id, score in zip(
                    record["response_ids"], record["scores"], strict=True
                ):
                    rows.append(
                        ResponseScore(
                            response_id=response_id, model_version=version, score=float(score)
                        )
                    )
    ResponseScore.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def responses_score_enqueue(*, version_ids: list[int], batch_id: int | None = None) -> None:
    """Score in the background, one outbox message per reward-model version: sent after
    commit, and sent again by the sweeper while the broker is down or lost it (scoring skips
    what a version already scored, so a second run is harmless)."""
    from .tasks import score_responses

    for version_id in version_ids:
        outbox_call(score_responses, version_id, batch_id, key=f"score:{version_id}:{batch_id}")
