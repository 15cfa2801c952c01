import os

from celery import Celery
from celery.signals import celeryd_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

# Every task tracks the outbox message it was sent for (work/tasks.py).
app = Celery("margin", task_cls="work.tasks:TrackedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_pool = {"processes": 0}


@celeryd_init.connect
def _remember_concurrency(options=None, **_) -> None:
    _pool["processes"] = int((options or {}).get("concurrency") or 0)


@worker_process_init.connect
def _torch_threads(**_) -> None:
    """Each pool process generates on its share of the cores: torch's default (every core in
    every process) oversubscribes the machine as soon as two processes generate at once.
    MARGIN_TORCH_THREADS overrides the share; the cores a job starts as a subprocess keep
    torch's default."""
    from config.threads import torch_threads_per_process

    threads = torch_threads_per_process(_pool["processes"])
    import torch

    torch.set_num_threads(threads)
