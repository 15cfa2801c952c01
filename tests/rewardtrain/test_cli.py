"""The command line explains every option, and rewardtrain never imports Django."""

import subprocess
import sys
from pathlib import Path

import pytest

from rewardtrain.config import EvalConfig, ScoreConfig, TrainConfig, make_parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "command,cls", [("train", TrainConfig), ("eval", EvalConfig), ("score", ScoreConfig)]
)
def test_help_explains_every_option(command, cls):
    import dataclasses

    parser = make_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    documented = {a.dest: a.help for a in sub._actions if a.dest != "help"}
    for f in dataclasses.fields(cls):
        assert f.name in documented and len(documented[f.name]) > 20, f.name
    text = subprocess.run(
        [sys.executable, "-m", "rewardtrain", command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--pack-tokens" in text


def test_no_django_import():
    code = (
        "import sys, rewardtrain.train, rewardtrain.evaluate, rewardtrain.score, "
        "rewardtrain.__main__; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('django'))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
