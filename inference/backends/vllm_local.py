"""vLLM in-process, for GPU nodes (vLLM is imported only when this backend is built).

    from inference.backends.vllm_local import VLLMBackend
    backend = VLLMBackend("/artifacts/policy/rlhf-v3", tensor_parallel_size=2)
    backend.generate(conversations, params)

Each sample has its own seed (one is drawn and recorded when the caller gives none), and the
same seed gives the same text. Consecutive samples of one dialogue with the same params and
consecutive seeds s, s+1, ..., s+n-1 (how rejection sampling asks for K answers) are sent as
one request with n and seed s (`request_groups`): vLLM seeds its child j with s+j, so that is
the same as n requests, with the prompt prefilled once. `LLM.chat` applies the tokenizer's chat
template, as reward-model training reads it. `seconds` is the wall time of the whole call.

A trainer that generates with the policy it is training (PPO) builds the backend with
`weight_updates=True` (the engine then runs in this process) and calls `load_weights` with the
new weights before each round of generation; that also drops the engine's prefix cache, whose
keys and values were computed with the old weights.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from inference.backends.base import expand_params, request_groups
from inference.context import ContextFitter, TruncationPolicy
from inference.errors import BackendNotInstalled, ContextTooLong, ModelNotFound
from inference.params import SamplingParams, with_seed
from inference.records import Completion, Conversation


def import_vllm():
    """The vllm module, or BackendNotInstalled saying which Python lacks it and what to do."""
    try:
        import vllm
    except ImportError as exc:
        raise BackendNotInstalled(
            f"the vllm backend needs vLLM, which {sys.executable} cannot import ({exc}). "
            "On a GPU worker run the cores with the image's vLLM environment "
            "(MARGIN_JOB_PYTHON=/opt/vllm/bin/python, see docker-compose.yml); elsewhere use "
            "the transformers backend."
        ) from exc
    return vllm


class VLLMBackend:
    """A `vllm.LLM` engine in this process; extra keyword arguments go to `vllm.LLM`."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        max_context: int = 2048,
        truncation: TruncationPolicy = "drop_oldest",
        weight_updates: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        import os

        vllm = import_vllm()
        if not Path(model_dir, "config.json").is_file():
            raise ModelNotFound(f"no model folder at {model_dir}")
        if weight_updates:
            # The engine core in this process: new weights are handed over, not pickled.
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        self.model = str(model_dir)
        self.llm = vllm.LLM(model=self.model, max_model_len=max_context, **engine_kwargs)
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
        groups = request_groups([m for m, _ in fitted], per_sample)
        engine_params = [
            EngineParams(
                n=len(indices),
                temperature=per_sample[indices[0]].temperature,
                top_p=per_sample[indices[0]].top_p,
                max_tokens=per_sample[indices[0]].max_tokens,
                seed=per_sample[indices[0]].seed,
            )
            for indices in groups
        ]
        started = time.perf_counter()
        outputs = self.llm.chat(
            [fitted[indices[0]][0] for indices in groups], engine_params, use_tqdm=False
        )
        seconds = time.perf_counter() - started
        results: list[Completion | None] = [None] * len(per_sample)
        for indices, out in zip(groups, outputs, strict=True):
            choices = sorted(out.outputs, key=lambda c: c.index)
            for index, choice in zip(indices, choices, strict=True):
                results[index] = Completion(
                    text=choice.text,
                    finish_reason=str(choice.finish_reason or "stop"),
                    prompt_tokens=len(out.prompt_token_ids or []),
                    completion_tokens=len(choice.token_ids),
                    seconds=seconds,
                    params=per_sample[index],
                    model=self.model,
                    dropped_turns=fitted[index][1],
                    prompt_token_ids=tuple(out.prompt_token_ids or ()),
                    token_ids=tuple(choice.token_ids),
                )
        return [r for r in results if r is not None]

    def load_weights(self, named_tensors: Iterable[tuple[str, Any]]) -> None:
        """Copy new weights (transformers parameter names, full tensors) into the engine and
        drop its prefix cache; the next `generate` samples from them."""
        self.llm.collective_rpc(
            "reload_weights",
            kwargs={"weights_iterator": list(named_tensors), "is_checkpoint_format": True},
        )
        self.llm.reset_prefix_cache()

    def close(self) -> None:
        """Drop the engine so its memory can be freed."""
        self.__dict__.pop("llm", None)
