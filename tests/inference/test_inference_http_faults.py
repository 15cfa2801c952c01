"""The HTTP backend under faults, against a tiny fake server on loopback (fault injection
only; real generation through HTTP is tested against vLLM in the slow tier)."""

from __future__ import annotations

import time

import pytest

from inference import (
    BadRequest,
    ModelNotFound,
    SamplingParams,
    ServerUnavailable,
    health_check,
)
from inference.backends.http import OpenAIHTTPBackend
from inference.vllm_server import free_port

HI = [{"role": "user", "content": "Hi"}]
P = SamplingParams(max_tokens=4, seed=11)
SERVER_ERROR = ("json", 500, {"error": {"message": "engine hiccup"}})


def backend(server, **kwargs):
    kwargs = {"max_retries": 3, "backoff": 0.05, "backoff_max": 0.5, **kwargs}
    return OpenAIHTTPBackend(server.base_url, "fake-model", **kwargs)


def test_answers_and_records(fake_server):
    [c] = backend(fake_server).generate([HI], P)
    assert c.text == "answer 0 seed 11"
    assert (c.prompt_tokens, c.completion_tokens, c.finish_reason) == (7, 3, "stop")
    assert c.params == P and c.model == "fake-model" and c.seconds > 0
    sent = fake_server.requests[0][2]
    assert sent["messages"] == HI and sent["seed"] == 11 and "n" not in sent


def test_server_down_retries_with_backoff_then_fails():
    b = OpenAIHTTPBackend(
        f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=3, backoff=0.1, backoff_max=1
    )
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match="4 attempts: connection refused"):
        b.generate([HI], P)
    elapsed = time.monotonic() - started
    assert 0.05 + 0.1 + 0.2 <= elapsed < 3  # three backoffs (jitter: at least half each)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_status_is_retried_then_succeeds(fake_server, status):
    fake_server.script = [("json", status, {"error": {"message": "busy"}})] * 2
    [c] = backend(fake_server).generate([HI], P)
    assert c.text == "answer 0 seed 11"
    assert len(fake_server.requests) == 3


def test_persistent_500_is_bounded(fake_server):
    fake_server.script = [SERVER_ERROR] * 10
    with pytest.raises(ServerUnavailable, match="3 attempts: HTTP 500: engine hiccup"):
        backend(fake_server, max_retries=2).generate([HI], P)
    assert len(fake_server.requests) == 3


def test_backoff_grows(fake_server):
    fake_server.script = [SERVER_ERROR] * 4
    with pytest.raises(ServerUnavailable):
        backend(fake_server, backoff=0.1, backoff_max=10).generate([HI], P)
    times = [t for t, _, _ in fake_server.requests]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) == 3
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # 0.1·2^k, jitter ≥ half
    assert gaps[2] > gaps[0]


def test_429_retry_after_is_honoured(fake_server):
    fake_server.script = [
        ("json", 429, {"error": {"message": "slow down"}}, {"Retry-After": "0.4"})
    ]
    started = time.monotonic()
    backend(fake_server, backoff=0.01).generate([HI], P)
    assert time.monotonic() - started >= 0.4
    assert len(fake_server.requests) == 2


def test_timeout_is_retried_then_fails(fake_server):
    fake_server.script = [("sleep", 2)] * 3
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match="timed out"):
        backend(fake_server, timeout=0.3, max_retries=1).generate([HI], P)
    assert time.monotonic() - started < 1.8
    assert len(fake_server.requests) == 2


def test_dropped_connection_mid_response_is_retried(fake_server):
    fake_server.script = [("drop",), ("close",)]
    [c] = backend(fake_server).generate([HI], P)
    assert c.text == "answer 0 seed 11"
    assert len(fake_server.requests) == 3


def test_persistent_drop_fails_clearly(fake_server):
    fake_server.script = [("drop",)] * 5
    with pytest.raises(ServerUnavailable, match="connection dropped"):
        backend(fake_server, max_retries=2).generate([HI], P)


def test_malformed_body_is_retried_then_fails(fake_server):
    fake_server.script = [("raw", 200, "<html>not json</html>")] * 3
    with pytest.raises(ServerUnavailable, match="malformed response body") as info:
        backend(fake_server, max_retries=2).generate([HI], P)
    assert "html" not in str(info.value)


def test_wrong_model_name_is_model_not_found_without_retry(fake_server):
    b = OpenAIHTTPBackend(fake_server.base_url, "no-such-model", max_retries=3)
    with pytest.raises(ModelNotFound, match="'no-such-model' is not served") as info:
        b.generate([HI], P)
    assert info.value.status == 404
    assert len(fake_server.requests) == 1


def test_other_4xx_is_bad_request_and_body_is_not_echoed(fake_server):
    secret = "<script>alert(1)</script>" + "x" * 5000
    fake_server.script = [("json", 400, {"error": {"message": secret}, "trace": "internal"})]
    with pytest.raises(BadRequest) as info:
        backend(fake_server).generate([HI], P)
    message = str(info.value)
    assert info.value.status == 400 and len(message) < 300
    assert "internal" not in message and "xxxxx" * 100 not in message
    assert len(fake_server.requests) == 1


def test_non_json_error_body_is_not_echoed(fake_server):
    fake_server.script = [
        ("raw", 403, "<html><body>proxy says no " + "y" * 1000 + "</body></html>")
    ]
    with pytest.raises(BadRequest, match="HTTP 403") as info:
        backend(fake_server).generate([HI], P)
    assert "proxy" not in str(info.value)


def test_health_check_is_a_one_token_completion(fake_server):
    c = health_check(backend(fake_server))
    assert c.text
    sent = fake_server.requests[0][2]
    assert sent["max_tokens"] == 1 and sent["temperature"] == 0.0


def test_health_check_fails_when_down():
    b = OpenAIHTTPBackend(f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=0)
    with pytest.raises(ServerUnavailable):
        health_check(b)


def test_consecutive_seeds_share_one_request_with_n(fake_server):
    """vLLM seeds choice j with seed + j: seeds 1, 2, 3 are one request; 7 and 7 are two."""
    params = [SamplingParams(max_tokens=4, seed=s) for s in (1, 2, 3, 7, 7)]
    out = backend(fake_server).generate([HI] * 5, params)
    assert [c.params.seed for c in out] == [1, 2, 3, 7, 7]
    sent = sorted((r[2]["seed"], r[2].get("n", 1)) for r in fake_server.requests)
    assert sent == [(1, 3), (7, 1), (7, 1)]
    assert [c.text for c in out[:3]] == [f"answer {k} seed 1" for k in range(3)]


def test_unseeded_identical_samples_share_one_request_with_n(fake_server):
    out = backend(fake_server).generate([HI] * 3, SamplingParams(max_tokens=4))
    assert len(fake_server.requests) == 1 and fake_server.requests[0][2]["n"] == 3
    assert [c.text for c in out] == [f"answer {k} seed None" for k in range(3)]
    assert [c.completion_tokens for c in out] == [3, 3, 3]


def test_requests_run_concurrently(fake_server):
    fake_server.script = [("sleep", 0.3)] * 8
    started = time.monotonic()
    params = [SamplingParams(max_tokens=4, seed=s) for s in range(8)]
    out = backend(fake_server, concurrency=8).generate([HI] * 8, params)
    assert len(out) == 8 and time.monotonic() - started < 1.5


def test_list_models(fake_server):
    assert backend(fake_server).list_models() == ["fake-model"]


def test_one_failure_ends_the_whole_call(fake_server):
    fake_server.script = [("json", 400, {"error": {"message": "bad"}})] + [("sleep", 5)] * 4
    started = time.monotonic()
    params = [SamplingParams(max_tokens=4, seed=s) for s in range(5)]
    with pytest.raises(BadRequest):
        backend(fake_server, concurrency=5).generate([HI] * 5, params)
    assert time.monotonic() - started < 3


def test_generate_works_inside_a_running_event_loop(fake_server):
    import asyncio

    async def caller():
        return backend(fake_server).generate([HI], P)

    assert asyncio.run(caller())[0].text == "answer 0 seed 11"
