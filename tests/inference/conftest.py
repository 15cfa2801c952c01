"""Fixtures for the inference tests.

    .venv/bin/pytest tests/inference -q            # default tier (real SmolLM2 on CPU)
    .venv/bin/pytest tests/inference -q -m slow    # + a real vLLM server (installs it once)

`fake_server` is a tiny OpenAI-compatible HTTP server on loopback, used only to inject faults
(500, 429, hangs, dropped connections); real generation always uses the real model.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from inference.default_model import ensure_default_model

FAKE_MODEL = "fake-model"


@pytest.fixture(scope="session")
def model_dir():
    return ensure_default_model()


@pytest.fixture(scope="session")
def cpu_backend(model_dir):
    from inference.backends.transformers_cpu import TransformersBackend

    return TransformersBackend(model_dir, batch_size=4)


@pytest.fixture(scope="session")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


# -- fault injection -------------------------------------------------------------------------


@dataclass
class FakeServer:
    """Answers chat completions for FAKE_MODEL; `script` holds actions for the next requests.

    Actions: ("json", status, body_obj, headers) · ("drop",) headers then half a body, then
    close · ("close",) close without answering · ("sleep", seconds) then answer normally ·
    ("raw", status, text) a non-JSON body.
    """

    port: int = 0
    script: list[tuple] = field(default_factory=list)
    requests: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            path = lines[0].split(" ")[1]
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":")[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            self.requests.append((time.monotonic(), path, body))
            action = self.script.pop(0) if self.script else ("ok",)
            if action[0] == "sleep":
                await asyncio.sleep(action[1])
                action = ("ok",)
            if action[0] == "close":
                return
            if action[0] == "drop":
                payload = json.dumps(_completion(body)).encode()
                writer.write(_head(200, len(payload), {}) + payload[: len(payload) // 2])
                await writer.drain()
                return
            if action[0] == "raw":
                writer.write(_head(action[1], len(action[2]), {}) + action[2].encode())
            else:
                status, obj, headers = _answer(action, body, path)
                payload = json.dumps(obj).encode()
                writer.write(_head(status, len(payload), headers) + payload)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def _head(status: int, length: int, headers: dict[str, str]) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n{extra}\r\n"
    ).encode()


def _answer(action: tuple, body: dict, path: str) -> tuple[int, Any, dict[str, str]]:
    if action[0] == "json":
        return action[1], action[2], action[3] if len(action) > 3 else {}
    if path.endswith("/models"):
        return 200, {"object": "list", "data": [{"id": FAKE_MODEL}]}, {}
    if body.get("model") != FAKE_MODEL:
        error = {"message": f"The model `{body.get('model')}` does not exist.", "code": 404}
        return 404, {"error": error}, {}
    return 200, _completion(body), {}


def _completion(body: dict) -> dict[str, Any]:
    n = body.get("n", 1)
    choices = [
        {
            "index": k,
            "message": {"role": "assistant", "content": f"answer {k} seed {body.get('seed')}"},
            "finish_reason": "stop",
        }
        for k in range(n)
    ]
    return {"choices": choices, "usage": {"prompt_tokens": 7, "completion_tokens": 3 * n}}


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.Server] = {}

    async def boot() -> None:
        holder["server"] = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = holder["server"].sockets[0].getsockname()[1]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(boot(), loop)
    ready.wait(5)
    yield server

    async def shutdown() -> None:
        holder["server"].close()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


# -- the real vLLM server (slow tier) --------------------------------------------------------

VLLM_NAMES = ("smollm2-a", "smollm2-b")


@pytest.fixture(scope="session")
def vllm_server(model_dir, tmp_path_factory):
    """A real vLLM CPU server serving SmolLM2 under two names (two variants)."""
    from inference.vllm_server import VLLMServer, install

    install()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with VLLMServer(model_dir, served_names=VLLM_NAMES, log_path=log) as server:
        yield server


def pytest_collection_modifyitems(config, items):
    """The slow tier runs only when asked for (`-m slow`)."""
    if "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="slow tier: run with -m slow")
    here = str(Path(__file__).parent)
    for item in items:
        if "slow" in item.keywords and str(item.path).startswith(here):
            item.add_marker(skip)
