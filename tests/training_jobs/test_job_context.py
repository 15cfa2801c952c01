"""A core's process reports progress only through its own bars."""

import subprocess
import sys

from training_jobs.runners.context import TQDM, child_env

LOAD = "from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained({!r})"


def test_library_loading_bars_are_off_in_a_core_process(tiny_policy_source):
    command = [sys.executable, "-c", LOAD.format(str(tiny_policy_source))]
    plain = subprocess.run(command, capture_output=True, text=True, check=True)
    assert TQDM.search(plain.stderr), "transformers no longer shows a loading bar"
    quiet = subprocess.run(command, capture_output=True, text=True, check=True, env=child_env())
    assert not TQDM.search(quiet.stdout + quiet.stderr)
