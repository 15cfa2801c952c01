"""The inference core never imports Django, and imports vLLM only when that backend is built."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import inference, inference.pairs, inference.variants, inference.vllm_server
import inference.backends.http, inference.backends.transformers_cpu
import inference.backends.vllm_local, inference.default_model
from inference import ModelVariant, PairPolicy, plan_pairs
plan_pairs(2, ["a", "b"], PairPolicy(seed=1))
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("django", "vllm", "config"))
print(",".join(bad))
"""


def test_no_django_no_vllm():
    env = {"PATH": "/usr/bin:/bin"}  # no DJANGO_SETTINGS_MODULE
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == ""
