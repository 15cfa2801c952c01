"""Settings shared by every mode. Every value comes from an environment variable with a
safe development default; `production.py` removes the defaults that must not exist there."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("MARGIN_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "template_partials",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "work",
    "annotation",
    "training_jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: an htmx request and its target
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'margin.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and an embedded worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "static"))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)

# Where every artefact (exports, checkpoints, policies) lives; paths are kept under it.
ARTIFACT_ROOT = Path(os.environ.get("ARTIFACT_ROOT", VAR_DIR / "artifacts")).resolve()
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

MARGIN = {
    "MAX_TEXT_CHARS": env_int("MARGIN_MAX_TEXT_CHARS", 32_000),
    "LEASE_SECONDS": env_int("MARGIN_LEASE_SECONDS", 600),
    "SYNC_EXPORT_MAX_ROWS": env_int("MARGIN_SYNC_EXPORT_MAX_ROWS", 50_000),
    "DEFAULT_MODEL_DIR": os.environ.get("MARGIN_MODEL_DIR", ""),
    # An OpenAI-compatible server (vLLM) that batches without variants of their own use;
    # empty: the default model on CPU in the worker.
    "MODEL_SERVER_URL": os.environ.get("MARGIN_MODEL_SERVER_URL", ""),
    "MODEL_SERVER_MODEL": os.environ.get("MARGIN_MODEL_SERVER_MODEL", "SmolLM2-135M-Instruct"),
}

# Development mode only (config.settings.dev): demo logins, demo batches, the demo-loop button.
MARGIN_DEMO = False

MARGIN_GENERATION = {
    "BATCH_SIZE": env_int("MARGIN_GENERATION_BATCH_SIZE", 8),
    # A batch with no pair ready gets this many first, so the first pair comes quickly.
    "FIRST_ROUND_SIZE": env_int("MARGIN_GENERATION_FIRST_ROUND_SIZE", 1),
    # Before any pair has been generated, the workspace expects the first one after about
    # this long (worker start, model load, one pair on two CPU cores); later, it measures.
    "FIRST_PAIR_SECONDS": env_int("MARGIN_FIRST_PAIR_SECONDS", 60),
    "STOCK_PER_ANNOTATOR": env_int("MARGIN_STOCK_PER_ANNOTATOR", 4),
    "MIN_STOCK": env_int("MARGIN_MIN_STOCK", 4),
    "RETRY_BASE_SECONDS": env_int("MARGIN_GENERATION_RETRY_SECONDS", 30),
    "STALE_SECONDS": env_int("MARGIN_GENERATION_STALE_SECONDS", 900),
}
# Queued work of every kind (jobs, exports, outbox messages): see work/ and README "Queued work".
MARGIN_WORK = {
    # A running row beats this often, and counts as lost (worker dead) after the timeout.
    "HEARTBEAT_SECONDS": env_int("MARGIN_HEARTBEAT_SECONDS", 5),
    "HEARTBEAT_TIMEOUT_SECONDS": env_int("MARGIN_HEARTBEAT_TIMEOUT_SECONDS", 120),
    # A row the broker did not take is sent again after this long.
    "UNSENT_RETRY_SECONDS": env_int("MARGIN_UNSENT_RETRY_SECONDS", 15),
    # A sent row no worker took counts as lost by the broker after this long, doubling with
    # each send up to the maximum (a re-sent duplicate is skipped by the attempt's claim).
    "RESEND_AFTER_SECONDS": env_int("MARGIN_RESEND_AFTER_SECONDS", 300),
    "RESEND_MAX_SECONDS": env_int("MARGIN_RESEND_MAX_SECONDS", 3600),
    "KEEP_FINISHED_DAYS": env_int("MARGIN_OUTBOX_KEEP_DAYS", 7),
}
MARGIN_JOBS = {
    # "gpu": training jobs go to the `gpu` queue, served only by workers on GPU nodes.
    "TRAINING_DEVICE": os.environ.get("MARGIN_TRAINING_DEVICE", "gpu"),
    "HEARTBEAT_SECONDS": MARGIN_WORK["HEARTBEAT_SECONDS"],
    "PYTHON": os.environ.get("MARGIN_JOB_PYTHON", ""),
    # Processes (GPUs) a reward-model training job starts under torchrun on a `gpu` worker.
    "TRAIN_PROCESSES": env_int("MARGIN_TRAIN_PROCESSES", 1),
}
# Passed to the HTTP backend of every OpenAI-compatible variant.
MARGIN_HTTP_BACKEND_OPTIONS = {
    "timeout": float(os.environ.get("MARGIN_HTTP_TIMEOUT", "120")),
    "max_retries": env_int("MARGIN_HTTP_MAX_RETRIES", 3),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # `format` is an export parameter (trl or full), not a renderer switch.
    "URL_FORMAT_OVERRIDE": None,
    "EXCEPTION_HANDLER": "config.exception_handlers.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Margin API",
    "DESCRIPTION": "Prompt batches, comparisons, judgments, imports, exports and iterations.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs' assets come from the site (drf-spectacular-sidecar), never a CDN: the site's
    # content security policy allows only its own scripts and styles.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "PromptSourceEnum": "annotation.models.batches.PromptSource",
        "GuidelineStageEnum": "annotation.models.batches.GuidelineStage",
    },
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "store_processed": False,
        "control_folder": str(VAR_DIR / "broker" / "control"),
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 12 * 3600),
        # A broker that vanishes without closing the connection (a failover, a firewall) must
        # not hold a request: the send gives up and the row stays queued for the sweeper.
        "socket_connect_timeout": env_int("CELERY_BROKER_CONNECT_TIMEOUT", 5),
        "socket_timeout": env_int("CELERY_BROKER_SOCKET_TIMEOUT", 10),
        "socket_keepalive": True,
    }
)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 24 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 24 * 3600 - 60)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# One beat fires at a time (a lock it holds; a second beat stands by): work/beat.py.
CELERY_BEAT_SCHEDULER = "work.beat:LockedScheduler"
CELERY_BEAT_SYNC_EVERY = 1  # last run times reach the database at once (for a takeover)
# Created in django-celery-beat's tables when missing; admins edit them in the Django admin
# and beat keeps their edits.
CELERY_BEAT_SCHEDULE = {
    "refill-pair-stocks": {"task": "annotation.tasks.refill_stocks", "schedule": 30.0},
    "requeue-stale-pairs": {"task": "annotation.tasks.requeue_stale_pairs", "schedule": 60.0},
    "expire-leases": {"task": "annotation.workspace.tasks.expire_leases", "schedule": 60.0},
    "sweep-work": {"task": "work.tasks.sweep_work", "schedule": 30.0},
    "retrain-reward-models": {
        "task": "training_jobs.tasks.retrain_reward_models",
        "schedule": 600.0,
        "kwargs": {"min_new_judgments": 1000},
    },
}
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
