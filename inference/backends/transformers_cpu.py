"""The default backend: a transformers causal LM on CPU, batched, one seed per sample.

    from inference.backends.transformers_cpu import TransformersBackend
    backend = TransformersBackend()            # the default SmolLM2-135M-Instruct folder
    backend.generate([[{"role": "user", "content": "Hi"}]], SamplingParams(max_tokens=16, seed=1))

Sampling is our own loop over the KV cache, not `model.generate`: each row draws from its own
`torch.Generator` seeded with the sample's seed, one uniform number per step, through the
inverse CDF of its (temperature, top-p) distribution. A row's draws therefore depend only on
its seed, so the same seed gives the same text batched or alone (up to float rounding in the
padded batch, which moves a draw only when it lands within ~1e-6 of a token boundary), and
the output is deterministic for a given (batch, seeds).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from inference.backends.base import expand_params
from inference.context import ContextFitter, TruncationPolicy, prompt_token_ids
from inference.errors import ContextTooLong, ModelNotFound
from inference.params import SamplingParams, with_seed
from inference.records import Completion, Conversation


class TransformersBackend:
    """Generate with a local transformers folder on CPU (float32)."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        max_context: int = 2048,
        truncation: TruncationPolicy = "drop_oldest",
        batch_size: int = 8,
        threads: int | None = None,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from inference.default_model import ensure_default_model

        folder = Path(model_dir) if model_dir is not None else ensure_default_model()
        if not (folder / "config.json").is_file():
            raise ModelNotFound(f"no transformers model folder at {folder}")
        if threads:
            torch.set_num_threads(threads)
        self.model = str(folder)
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        limit = getattr(self.lm.config, "max_position_embeddings", max_context)
        self.fitter = ContextFitter(self.tokenizer, min(max_context, limit), truncation)
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.stop_ids = _stop_ids(self.tokenizer, self.lm.generation_config)

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams | Sequence[SamplingParams],
    ) -> list[Completion]:
        per_sample = [with_seed(p) for p in expand_params(conversations, params)]
        prompts: list[tuple[list[int], int]] = []
        for i, (conv, p) in enumerate(zip(conversations, per_sample, strict=True)):
            try:
                messages, dropped = self.fitter.fit(conv, p.max_tokens)
            except ContextTooLong as exc:
                raise ContextTooLong(f"conversation {i}: {exc}", index=i) from exc
            prompts.append((prompt_token_ids(self.tokenizer, messages), dropped))
        results: list[Completion] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            chunk_params = per_sample[start : start + self.batch_size]
            results.extend(self._generate_batch(chunk, chunk_params))
        return results

    def close(self) -> None:
        """Nothing to release; the model is freed with the object."""

    @torch.inference_mode()
    def _generate_batch(
        self, prompts: list[tuple[list[int], int]], params: list[SamplingParams]
    ) -> list[Completion]:
        started = time.perf_counter()
        width = max(len(ids) for ids, _ in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, (ids, _) in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            mask[row, width - len(ids) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        generators = [torch.Generator().manual_seed(p.seed) for p in params]
        tokens: list[list[int]] = [[] for _ in prompts]
        finish: list[str | None] = [None] * len(prompts)

        from transformers import DynamicCache

        cache = DynamicCache(config=self.lm.config)
        out = self.lm(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        for _ in range(max(p.max_tokens for p in params)):
            logits = out.logits[:, -1, :].float()
            step = torch.full((len(prompts), 1), self.pad_id, dtype=torch.long)
            for row, p in enumerate(params):
                if finish[row] is not None:
                    continue
                token = _draw(logits[row], p, generators[row])
                tokens[row].append(token)
                step[row, 0] = token
                if token in self.stop_ids:
                    finish[row] = "stop"
                elif len(tokens[row]) >= p.max_tokens:
                    finish[row] = "length"
            if all(f is not None for f in finish):
                break
            mask = torch.cat([mask, torch.ones((len(prompts), 1), dtype=torch.long)], dim=1)
            positions = positions[:, -1:] + 1
            out = self.lm(
                input_ids=step,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
        seconds = time.perf_counter() - started
        return [
            Completion(
                text=self.tokenizer.decode(toks, skip_special_tokens=True),
                finish_reason=reason or "length",
                prompt_tokens=len(ids),
                completion_tokens=len(toks),
                seconds=seconds,
                params=p,
                model=self.model,
                dropped_turns=dropped,
            )
            for (ids, dropped), toks, reason, p in zip(prompts, tokens, finish, params, strict=True)
        ]


def _draw(logits: torch.Tensor, p: SamplingParams, generator: torch.Generator) -> int:
    """One token for one row: greedy at temperature 0 (SamplingParams maps any temperature below
    GREEDY_BELOW to 0), else inverse-CDF top-p sampling."""
    if p.greedy:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / p.temperature, dim=-1)
    sorted_probs, order = torch.sort(probs, descending=True, stable=True)
    cdf = torch.cumsum(sorted_probs, dim=-1)
    if p.top_p < 1.0:
        # Keep the smallest prefix whose mass reaches top_p (always at least one token).
        keep = int(torch.searchsorted(cdf, torch.tensor([p.top_p]), right=False)) + 1
        cdf = cdf[: min(keep, cdf.numel())]
    u = torch.rand((), generator=generator) * cdf[-1]
    index = min(int(torch.searchsorted(cdf, u.reshape(1), right=True)), cdf.numel() - 1)
    return int(order[index])


def _stop_ids(tokenizer, generation_config) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return {i for i in ids if i is not None}
