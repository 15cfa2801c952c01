"""Development mode (`make run`): SQLite, the filesystem broker, a local secret."""

import os

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "margin-development-only-not-secret"
# The demo: its users, its two batches of real prompts, the staff button that runs the loop.
MARGIN_DEMO = True
