"""The house rule as a checked contract: every module of the ML cores imports without Django
(a GPU node runs them with only a data file and an output folder)."""

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
for name in ("mlcore", "inference", "rewardtrain", "training_jobs.rlhf"):
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(module.name)
print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("django", "config"))))
"""


def test_ml_cores_import_without_django():
    out = subprocess.run(
        [sys.executable, "-c", CODE],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""
