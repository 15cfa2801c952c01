"""OpenAI-compatible HTTP backend: a vLLM server, or any server speaking the same API.

    from inference.backends.http import OpenAIHTTPBackend
    backend = OpenAIHTTPBackend("http://127.0.0.1:8000/v1", "SmolLM2-135M-Instruct",
                                tokenizer="/path/to/model/folder")   # optional, for truncation
    backend.generate(conversations, params)

Requests go to `POST {base_url}/chat/completions`, so the server applies the model's own chat
template (`tokenizer.apply_chat_template`, as reward-model training reads it). Up to
`concurrency` requests run at once. Samples that vLLM can answer with one request of `n`
choices share one (`request_groups`): consecutive samples of one dialogue with the same
parameters and seeds s, s+1, ... (vLLM seeds choice j with s+j, as in the in-process backend),
and unseeded samples of one dialogue with the same parameters.

Failures: connection refused, timeouts, dropped connections, malformed bodies, 429 and 5xx
are retried `max_retries` times with exponential backoff (and jitter; Retry-After is honoured
up to `backoff_max`), then raise ServerUnavailable. 404 raises ModelNotFound, any other 4xx
BadRequest, at once. Messages hold at most a short excerpt of the server's error message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from inference.backends.base import expand_params, request_groups
from inference.context import ContextFitter, TruncationPolicy
from inference.errors import (
    BadRequest,
    ContextTooLong,
    ModelNotFound,
    ServerUnavailable,
    excerpt,
)
from inference.params import MAX_TOKENS_LIMIT, SamplingParams
from inference.records import Completion, Conversation, Message

T = TypeVar("T")
RETRY_STATUS = frozenset({408, 409, 425, 429})


class OpenAIHTTPBackend:
    """Chat completions from an OpenAI-compatible server at `base_url` (ending in /v1)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 16,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        backoff_max: float = 8.0,
        tokenizer: str | Path | Any | None = None,
        max_context: int = 2048,
        truncation: TruncationPolicy = "drop_oldest",
        max_tokens_limit: int = MAX_TOKENS_LIMIT,
    ) -> None:
        if concurrency < 1 or max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.max_tokens_limit = max_tokens_limit
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.fitter: ContextFitter | None = None
        if tokenizer is not None:
            if isinstance(tokenizer, str | Path):
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(tokenizer)
            self.fitter = ContextFitter(tokenizer, max_context, truncation)

    # -- public -------------------------------------------------------------------------------

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams | Sequence[SamplingParams],
    ) -> list[Completion]:
        """Blocking form of `agenerate` (runs its own event loop)."""
        return _run_sync(self.agenerate(conversations, params))

    async def agenerate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams | Sequence[SamplingParams],
    ) -> list[Completion]:
        per_sample = expand_params(conversations, params, max_tokens_limit=self.max_tokens_limit)
        fitted = [
            self._fit(i, c, p)
            for i, (c, p) in enumerate(zip(conversations, per_sample, strict=True))
        ]
        groups = request_groups([m for m, _ in fitted], per_sample)
        results: list[Completion | None] = [None] * len(per_sample)
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        async with httpx.AsyncClient(
            timeout=self._timeout, limits=limits, headers=self._headers
        ) as client:

            async def run(indices: list[int]) -> None:
                messages, dropped = fitted[indices[0]]
                async with gate:
                    done = await self._complete(
                        client, messages, per_sample[indices[0]], len(indices)
                    )
                for index, completion in zip(indices, done, strict=True):
                    results[index] = _with(completion, dropped, per_sample[index])

            tasks = [asyncio.create_task(run(g)) for g in groups]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                # One failure ends the call: stop the other requests instead of orphaning them.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        return [r for r in results if r is not None]

    def list_models(self) -> list[str]:
        """Model names the server serves (`GET {base_url}/models`)."""

        async def fetch() -> dict[str, Any]:
            async with httpx.AsyncClient(timeout=self._timeout, headers=self._headers) as client:
                return await self._request(client, "GET", "/models", None)

        return [m.get("id", "") for m in _run_sync(fetch()).get("data", [])]

    def close(self) -> None:
        """Nothing held between calls: each `generate` opens and closes its own connections."""

    # -- internals ----------------------------------------------------------------------------

    def _fit(self, index: int, conv: Conversation, p: SamplingParams) -> tuple[list[Message], int]:
        if self.fitter is None:
            return [dict(m) for m in conv], 0
        try:
            return self.fitter.fit(conv, p.max_tokens)
        except ContextTooLong as exc:
            raise ContextTooLong(f"conversation {index}: {exc}", index=index) from exc

    async def _complete(
        self, client: httpx.AsyncClient, messages: list[Message], p: SamplingParams, n: int
    ) -> list[Completion]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
        }
        if p.seed is not None:
            payload["seed"] = p.seed
        if n > 1:
            payload["n"] = n
        started = time.perf_counter()
        data = await self._request(client, "POST", "/chat/completions", payload, choices=n)
        seconds = time.perf_counter() - started
        usage = data.get("usage") or {}
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        total = int(usage.get("completion_tokens") or 0)
        out = []
        for k, choice in enumerate(choices[:n]):
            text = (choice.get("message") or {}).get("content") or ""
            out.append(
                Completion(
                    text=text,
                    finish_reason=str(choice.get("finish_reason") or "stop"),
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=self._choice_tokens(text, choice, total, n, k, p.max_tokens),
                    seconds=seconds,
                    params=p,
                    model=self.model,
                )
            )
        return out

    def _choice_tokens(
        self, text: str, choice: dict, total: int, n: int, k: int, max_tokens: int
    ) -> int:
        """usage covers all n choices; split it by counting each text when we can."""
        if n == 1:
            return total
        if choice.get("finish_reason") == "length":
            return max_tokens
        if self.fitter is not None:
            stop = 1 if choice.get("finish_reason") == "stop" else 0
            return len(self.fitter.tokenizer.encode(text, add_special_tokens=False)) + stop
        return total // n + (1 if k < total % n else 0)

    async def _request(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        payload: dict[str, Any] | None,
        *,
        choices: int = 0,
    ) -> dict[str, Any]:
        url = self.base_url + path
        problem = ""
        wait = 0.0
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(wait or self._delay(attempt))
            wait = 0.0
            try:
                response = await client.request(method, url, json=payload)
            except httpx.TimeoutException as exc:
                problem = f"timed out ({type(exc).__name__})"
                continue
            except httpx.ConnectError:
                problem = "connection refused or host unreachable"
                continue
            except httpx.TransportError as exc:
                problem = f"connection dropped ({type(exc).__name__})"
                continue
            status = response.status_code
            if status == 200:
                try:
                    return _checked(response.json(), choices)
                except (ValueError, KeyError, TypeError):
                    problem = "malformed response body"
                    continue
            message = _error_message(response)
            if status >= 500 or status in RETRY_STATUS:
                problem = f"HTTP {status}" + (f": {message}" if message else "")
                wait = self._retry_after(response)
                continue
            if status == 404 or "model_not_found" in message.lower().replace(" ", "_"):
                raise ModelNotFound(
                    f"model {self.model!r} is not served at {self.base_url}"
                    + (f" (server: {message})" if message else ""),
                    status=status,
                )
            raise BadRequest(
                f"HTTP {status} from {self.base_url}: {message or 'no message'}", status=status
            )
        raise ServerUnavailable(
            f"{self.base_url} unavailable after {self.max_retries + 1} attempts: {problem}"
        )

    def _delay(self, attempt: int) -> float:
        base = min(self.backoff_max, self.backoff * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)

    def _retry_after(self, response: httpx.Response) -> float:
        value = response.headers.get("retry-after", "")
        try:
            return min(max(float(value), 0.0), self.backoff_max)
        except ValueError:
            return 0.0


def _checked(data: Any, choices: int) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError("response is not an object")
    if choices:
        got = data["choices"]
        if not isinstance(got, list) or len(got) < choices:
            raise ValueError("fewer choices than asked for")
    return data


def _error_message(response: httpx.Response) -> str:
    """The server's own error message (JSON only), cleaned and cut short; never the body."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            parts = [err.get("message") or err.get("detail"), err.get("code")]
            text = " ".join(str(p) for p in parts if p)
        else:
            text = str(err)
        return excerpt(text)
    return ""


def _with(c: Completion, dropped: int, params: SamplingParams) -> Completion:
    """The completion of one choice with its own sample's params (choice j of a seeded
    request has seed s + j) and the turns its dialogue lost to truncation."""
    from dataclasses import replace

    return replace(c, dropped_turns=dropped, params=params)


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, or in a helper thread when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
