"""How many torch threads a worker's pool process uses."""

import os


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def torch_threads_per_process(processes: int) -> int:
    """MARGIN_TORCH_THREADS when set, else the cores this worker may use divided among its
    `processes` pool processes (celery's default pool is one process per core), at least 1."""
    configured = os.environ.get("MARGIN_TORCH_THREADS", "").strip()
    if configured:
        return max(1, int(configured))
    cores = available_cores()
    return max(1, cores // (processes or cores))
