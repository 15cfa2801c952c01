import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

# Every task tracks the outbox message it was sent for (work/tasks.py).
app = Celery("margin", task_cls="work.tasks:TrackedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
