"""What the ML engineer's pages show, built from the rows `selectors` reads: reward-model
accuracy by grade (Llama 2, Table 8) and its charts, data-snapshot summaries, job log tails,
the job form's parameter help, and what a rejection-sampling round did (its facts and sweep)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rewardtrain.grades import GRADE_LABELS, GRADE_SHORT_LABELS, GRADES, UNSAFE_THRESHOLD

from .models import Job, ModelVersion
from .selectors import REWARD_KINDS, User, reward_versions


@dataclass
class SnapshotSummary:
    rows: int | None
    sha256: str
    judgments_through: int | None
    by_stage: dict[str, int]
    batches: list[int]


def snapshot_summary(snapshot: dict[str, Any]) -> SnapshotSummary:
    """What a job's data snapshot says in a few fields (unknown keys are ignored)."""
    files = snapshot.get("files") or []
    rows = sum(f.get("rows", 0) for f in files if isinstance(f, dict)) if files else None
    digests = [str(f.get("sha256", "")) for f in files if isinstance(f, dict)]
    by_stage = snapshot.get("by_stage") or {}
    return SnapshotSummary(
        rows=rows,
        sha256=", ".join(d[:12] for d in digests if d),
        judgments_through=snapshot.get("judgments_through"),
        by_stage={str(k): v for k, v in by_stage.items()} if isinstance(by_stage, dict) else {},
        batches=list(snapshot.get("batches") or []),
    )


def _results(version: ModelVersion) -> dict[str, dict[str, Any]]:
    """{test set: pair metrics} of a reward-model version's metrics.json (its own name level
    is dropped: there is one reward model per version)."""
    metrics = version.metrics.get("metrics") if isinstance(version.metrics, dict) else None
    if not isinstance(metrics, dict):
        return {}
    merged: dict[str, dict[str, Any]] = {}
    for sets in metrics.values():
        if isinstance(sets, dict):
            for test, result in sets.items():
                if isinstance(result, dict):
                    merged[str(test)] = result
    return merged


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass
class Table8Row:
    label: str
    version: ModelVersion | None
    cells: list[float | None]  # percent, in the order of Table8.columns
    counts: dict[str, int | None]
    safety: list[tuple[str, float | None, float | None, int | None]]  # test, P, R, labelled
    dropped: dict[str, int | None] = field(default_factory=dict)  # test pairs too long

    @property
    def sizes(self) -> list[tuple[str, int | None, int | None]]:
        """(test set, pairs scored, pairs left out as too long) in the table's order."""
        return [(test, n, self.dropped.get(test)) for test, n in self.counts.items()]


@dataclass
class Table8:
    test_sets: list[str]
    columns: list[tuple[str, str]]  # (test set, grade or "average")
    rows: list[Table8Row] = field(default_factory=list)
    unsafe_threshold: float = UNSAFE_THRESHOLD
    columns_per_test: int = len(GRADES) + 1

    @property
    def has_safety(self) -> bool:
        return any(row.safety for row in self.rows)

    @property
    def headers(self) -> list[tuple[str, str]]:
        """(grade or "average", its short label) for each column."""
        return [(grade, GRADE_SHORT_LABELS.get(grade, "Avg")) for _, grade in self.columns]


def table8(versions: list[ModelVersion]) -> Table8:
    """Accuracy by grade of each reward-model version on each test set (Llama 2, Table 8)."""
    return table8_from([(v.name, v, _results(v)) for v in versions])


def version_table8(version: ModelVersion) -> Table8:
    """This version's row, and the previous version of its kind measured on the same test
    sets (what the training job recorded under "previous") when there is one."""
    entries: list[tuple[str, ModelVersion | None, dict]] = [
        (version.name, version, _results(version))
    ]
    previous = version.metrics.get("previous") if isinstance(version.metrics, dict) else None
    if isinstance(previous, dict) and isinstance(previous.get("on_this_test"), dict):
        results = {str(k): v for k, v in previous["on_this_test"].items() if isinstance(v, dict)}
        entries.append((f"{previous.get('version', 'previous')} (previous)", None, results))
    return table8_from(entries)


def table8_from(entries: list[tuple[str, ModelVersion | None, dict[str, dict]]]) -> Table8:
    tests = sorted({test for _, _, sets in entries for test in sets})
    columns = [(test, grade) for test in tests for grade in (*GRADES, "average")]
    table = Table8(test_sets=tests, columns=columns)
    for label, version, sets in entries:
        cells: list[float | None] = []
        for test, grade in columns:
            result = sets.get(test) or {}
            value = (
                result.get("average")
                if grade == "average"
                else (result.get("accuracy") or {}).get(grade)
            )
            number = _number(value)
            cells.append(None if number is None else 100.0 * number)
        safety = []
        for test in tests:
            unsafe = (sets.get(test) or {}).get("unsafe")
            if isinstance(unsafe, dict) and unsafe.get("labelled_responses"):
                safety.append(
                    (
                        test,
                        _number(unsafe.get("precision")),
                        _number(unsafe.get("recall")),
                        unsafe.get("labelled_responses"),
                    )
                )
        counts = {test: (sets.get(test) or {}).get("n") for test in tests}
        dropped = {test: (sets.get(test) or {}).get("dropped_too_long") for test in tests}
        table.rows.append(
            Table8Row(
                label=label,
                version=version,
                cells=cells,
                counts=counts,
                safety=safety,
                dropped=dropped,
            )
        )
    return table


@dataclass
class UnsafeGate:
    """The safety gate measured on one test set with labelled responses (rewardtrain's
    threshold analysis): the default threshold's precision and recall, the threshold reaching
    the paper's precision, the precision/recall curve and the score histogram."""

    test: str
    labelled: int
    threshold: float
    precision: float | None
    recall: float | None
    at_precision: dict[str, float] | None
    curve: list[dict[str, Any]]
    histogram: dict[str, list]


def unsafe_gates(version: ModelVersion) -> list[UnsafeGate]:
    """One UnsafeGate per test set of this version that has labelled responses and the
    threshold analysis (versions trained before it have none)."""
    gates = []
    for test, result in sorted(_results(version).items()):
        unsafe = result.get("unsafe")
        if not isinstance(unsafe, dict) or not unsafe.get("labelled_responses"):
            continue
        if not isinstance(unsafe.get("curve"), list) or not isinstance(
            unsafe.get("histogram"), dict
        ):
            continue
        best = unsafe.get("at_precision")
        gates.append(
            UnsafeGate(
                test=test,
                labelled=int(unsafe["labelled_responses"]),
                threshold=_number(unsafe.get("threshold")) or 0.0,
                precision=_number(unsafe.get("precision")),
                recall=_number(unsafe.get("recall")),
                at_precision=best if isinstance(best, dict) else None,
                curve=[c for c in unsafe["curve"] if isinstance(c, dict)],
                histogram=unsafe["histogram"],
            )
        )
    return gates


def accuracy_series(
    versions: list[ModelVersion], test: str
) -> tuple[list[str], list[tuple[str, list[float | None]]]]:
    """x labels (version names) and one line per grade plus the average, in percent."""
    labels = [v.name for v in versions]
    lines = []
    for grade in (*GRADES, "average"):
        values: list[float | None] = []
        for version in versions:
            result = _results(version).get(test) or {}
            raw = (
                result.get("average")
                if grade == "average"
                else (result.get("accuracy") or {}).get(grade)
            )
            number = _number(raw)
            values.append(None if number is None else 100.0 * number)
        lines.append((GRADE_LABELS.get(grade, "Average"), values))
    return labels, lines


def metrics_charts(*, user: User) -> list[dict[str, Any]]:
    """One chart per (reward-model kind, test set): accuracy by grade across its versions."""
    charts = []
    for kind in REWARD_KINDS:
        versions = reward_versions(user=user, kind=kind)
        tests = sorted({t for v in versions for t in _results(v)})
        for test in tests:
            labels, lines = accuracy_series(versions, test)
            charts.append(
                {
                    "title": f"{ModelVersion.Kind(kind).label} on the {test} test set",
                    "labels": labels,
                    "lines": lines,
                }
            )
    return charts


@dataclass
class JobRow:
    job: Job
    tail: str


def job_rows(jobs, *, lines: int = 6) -> list[JobRow]:
    """Jobs with the last few lines of their log (the list pages show a short tail)."""
    return [JobRow(job=job, tail="\n".join(job.log.splitlines()[-lines:])) for job in jobs]


def job_metric_series(job: Job) -> list[tuple[str, str, list[tuple[float, float]]]]:
    """(stage, metric, points) for every series a job's cores reported, in the order they
    came: whatever a core names, it is plotted (see runners/metrics.py for the shape)."""
    found = []
    stored = job.metrics if isinstance(job.metrics, dict) else {}
    for stage, metrics in stored.items():
        for name, points in (metrics if isinstance(metrics, dict) else {}).items():
            pairs = [
                (p[0], p[1])
                for p in points
                if isinstance(p, list) and len(p) == 2 and all(_number(v) is not None for v in p)
            ]
            if pairs:
                found.append((str(stage), str(name), pairs))
    return found


@dataclass
class Parameter:
    name: str
    default: str
    help: str


MARGIN_PARAMETER_HELP = {
    "batches": "Prompt-batch ids (judgments to train on, or prompts to sample for).",
    "init_version": "Policy version to initialise from.",
    "device": "gpu or cpu: which workers run it.",
    "versions": "Reward-model version ids to evaluate (required).",
    "test_from": "Version whose held-out test sets to use (default: the first).",
    "pairs_per_batch": "Simulated annotators: judgments to add to each batch (default 12).",
    "annotators": "Simulated annotators: how many (default 2).",
    "seed": "Simulated annotators: seed of their noise (default 0).",
    "prompts_per_batch": "Only the first N prompts of each batch (default: all).",
    "bf16": "Evaluate with bfloat16 weights on the GPU.",
}


def job_parameters() -> dict[str, list[Parameter]]:
    """The parameters each runnable kind accepts, for the job form's help: the runner's own
    and the flags of its core's config that Margin does not set itself."""
    from mlcore.cli import flags_of

    from .runners import RUNNERS

    found: dict[str, list[Parameter]] = {}
    for kind, runner in RUNNERS.items():
        params = [
            Parameter(name, "", MARGIN_PARAMETER_HELP.get(name, "Set on the runner."))
            for name in sorted(runner.own_params)
        ]
        for flag in flags_of(runner.core_config) if runner.core_config else ():
            if flag.dest not in runner.reserved | runner.own_params:
                help_text = flag.field.metadata.get("help", "")
                params.append(Parameter(flag.dest, repr(flag.default), help_text))
        found[kind] = params
    return found


SWEEP_MAX_BYTES = 2_000_000


def policy_sweep(version: ModelVersion) -> dict[str, Any] | None:
    """sweep.json beside a policy (Figures 7 and 8), or None when there is none or it is not a
    readable sweep."""
    if version.kind != ModelVersion.Kind.POLICY:
        return None
    path = version.folder / "sweep.json"
    try:
        if path.stat().st_size > SWEEP_MAX_BYTES:
            return None
        sweep = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(sweep, dict) or not isinstance(sweep.get("ks"), list):
        return None
    series = sweep.get("series")
    if not isinstance(series, list) or not all(
        isinstance(s, dict)
        and isinstance(s.get("temperature"), int | float)
        and all(isinstance(s.get(metric, []), list) for metric in ("max", "median", "gap"))
        for s in series
    ):
        return None
    return sweep


def policy_round_facts(version: ModelVersion) -> list[tuple[str, str]]:
    """What the rejection-sampling round that made this policy did, as (label, value) rows."""
    metrics = version.metrics or {}
    sampling, selection, tuned = (
        metrics.get(part) or {} for part in ("sampling", "selection", "finetune")
    )
    if not selection:
        return []

    def number(value: Any, digits: int = 3) -> str:
        return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"

    return [
        ("Prompts", f"{sampling.get('prompts', '–')} ({sampling.get('safety_prompts', 0)} safety)"),
        ("Answers per prompt (K)", str(selection.get("k", "–"))),
        ("Mean reward of all answers", number(selection.get("mean_reward"))),
        ("Mean reward of the median answer", number(selection.get("mean_median_reward"))),
        ("Mean reward of the best answer", number(selection.get("mean_best_reward"))),
        ("Routed to the safety model", f"{100 * selection.get('routed_to_safety_share', 0):.0f}%"),
        (
            "Pool",
            f"{selection.get('pool_size', '–')} answers, "
            f"{selection.get('pool_from_earlier', 0)} kept from earlier rounds",
        ),
        (
            "Fine-tuning",
            f"{tuned.get('steps', '–')} steps, loss {number(tuned.get('first_loss'))} → "
            f"{number(tuned.get('last_loss'))}",
        ),
    ]


def policy_ppo_facts(version: ModelVersion) -> list[tuple[str, str]]:
    """What the PPO run that made this policy did, as (label, value) rows."""
    metrics = version.metrics or {}
    if metrics.get("method") != "ppo":
        return []
    best, last = metrics.get("best") or {}, metrics.get("last") or {}

    def number(value: Any, digits: int = 3) -> str:
        return f"{value:.{digits}f}" if isinstance(value, int | float) else "–"

    def share(name: str) -> str:
        value = last.get(name)
        return f"{100 * value:.0f}%" if isinstance(value, int | float) else "–"

    stopped = " (stopped early)" if metrics.get("stopped_early") else ""
    return [
        ("Iterations", f"{metrics.get('iterations', '–')}{stopped}"),
        (
            "Prompts",
            f"{metrics.get('prompts', '–')} ({metrics.get('heldout_prompts', 0)} held out)",
        ),
        (
            "Chosen policy",
            f"iteration {best.get('iteration', '–')}, held-out mean R_c "
            f"{number(best.get('heldout_reward'))}",
        ),
        ("Last mean R_c (raw)", number(last.get("reward_mean"))),
        (
            "Last KL (k1 / k3, per answer)",
            f"{number(last.get('kl_k1'), 4)} / {number(last.get('kl_k3'), 4)}",
        ),
        (
            "Last routing",
            f"safety prompt {share('routed_safety_flag')}, below the threshold "
            f"{share('routed_threshold')}, helpfulness {share('routed_helpfulness')}",
        ),
        ("Critic initialised from", str(metrics.get("critic_initialised_from", "–"))),
        ("Processes", str(metrics.get("world_size", "–"))),
    ]
