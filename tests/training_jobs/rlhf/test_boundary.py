"""The rejection-sampling core never imports Django; its command line documents every option."""

import subprocess
import sys

import pytest

from training_jobs.rlhf.config import COMMANDS, make_parser

MODULES = ["config", "reward", "pool", "loss", "sample", "select", "finetune", "sweep", "rounds"]


def test_core_leaves_django_out_of_a_fresh_process():
    code = (
        "import sys, training_jobs.rlhf\n"
        + "".join(f"import training_jobs.rlhf.{m}\n" for m in MODULES)
        + "import training_jobs.rlhf.__main__\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {"PATH": "/usr/bin:/bin"}  # no DJANGO_SETTINGS_MODULE either
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_option_has_help(command, capsys):
    parser = make_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    text = capsys.readouterr().out
    sub = parser._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings} has no help"
        assert action.option_strings[0] in text
