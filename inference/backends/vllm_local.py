"""vLLM in-process, for GPU nodes (vLLM is imported only when this backend is built).

    from inference.backends.vllm_local import VLLMBackend
    backend = VLLMBackend("/artifacts/policy/rlhf-v3", tensor_parallel_size=2)
    backend.generate(conversations, params)

Every sample is its own vLLM request with its own seed (a seed is drawn and recorded when
the caller gives none). `LLM.chat` applies the tokenizer's chat template, as reward-model
training reads it. `seconds` is the wall time of the whole call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference.backends.base import expand_params
from inference.context import ContextFitter, TruncationPolicy
from inference.errors import ContextTooLong, ModelNotFound
from inference.params import SamplingParams, with_seed
from inference.records import Completion, Conversation


class VLLMBackend:
    """A `vllm.LLM` engine in this process; extra keyword arguments go to `vllm.LLM`."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        max_context: int = 2048,
        truncation: TruncationPolicy = "drop_oldest",
        **engine_kwargs: Any,
    ) -> None:
        from vllm import LLM

        if not Path(model_dir, "config.json").is_file():
            raise ModelNotFound(f"no model folder at {model_dir}")
        self.model = str(model_dir)
        self.llm = LLM(model=self.model, max_model_len=max_context, **engine_kwargs)
        self.fitter = ContextFitter(self.llm.get_tokenizer(), max_context, truncation)

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams | Sequence[SamplingParams],
    ) -> list[Completion]:
        from vllm import SamplingParams as EngineParams

        per_sample = [with_seed(p) for p in expand_params(conversations, params)]
        fitted = []
        for i, (conv, p) in enumerate(zip(conversations, per_sample, strict=True)):
            try:
                fitted.append(self.fitter.fit(conv, p.max_tokens))
            except ContextTooLong as exc:
                raise ContextTooLong(f"conversation {i}: {exc}", index=i) from exc
        engine_params = [
            EngineParams(
                temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens, seed=p.seed
            )
            for p in per_sample
        ]
        started = time.perf_counter()
        outputs = self.llm.chat([m for m, _ in fitted], engine_params, use_tqdm=False)
        seconds = time.perf_counter() - started
        return [
            Completion(
                text=out.outputs[0].text,
                finish_reason=str(out.outputs[0].finish_reason or "stop"),
                prompt_tokens=len(out.prompt_token_ids or []),
                completion_tokens=len(out.outputs[0].token_ids),
                seconds=seconds,
                params=p,
                model=self.model,
                dropped_turns=dropped,
            )
            for out, p, (_, dropped) in zip(outputs, per_sample, fitted, strict=True)
        ]

    def close(self) -> None:
        """Drop the engine so its memory can be freed."""
        self.__dict__.pop("llm", None)
