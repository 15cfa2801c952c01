"""The default backend: a transformers causal LM (CPU by default; CUDA when the model is there),
batched, one seed per sample.

    from inference.backends.transformers_cpu import TransformersBackend
    backend = TransformersBackend()            # the default SmolLM2-135M-Instruct folder
    backend.generate([[{"role": "user", "content": "Hi"}]], SamplingParams(max_tokens=16, seed=1))
    backend = TransformersBackend.from_model(actor, tokenizer)   # a module being trained (PPO)

Sampling is our own loop over the KV cache, not `model.generate`: each row draws from its own
`torch.Generator` seeded with the sample's seed, one uniform number per step, through the
inverse CDF of its temperature distribution (over the vocabulary in id order; with top-p < 1,
over the tokens sorted by probability, cut at top_p). A row's draws therefore depend only on
its seed, so the same seed gives the same text batched or alone (up to float rounding in the
padded batch, which moves a draw only when it lands within ~1e-6 of a token boundary), and
the output is deterministic for a given (batch, seeds). All rows of a step are drawn together
(sorting the vocabulary only for rows that ask for top-p).

Each decoding step takes the decoder's last hidden states and applies the output head by
vocabulary chunks (`mlcore.heads`) where the model's logits are exactly that head (Llama and its
kin): on a CPU about twice as fast as the model's own head for a large vocabulary, same draws.

`from_model` generates with a module as it is now, so a trainer that changes the module's
weights samples from the new weights at the next call (no copy is kept).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from inference.backends.base import expand_params
from inference.context import ContextFitter, TruncationPolicy, prompt_token_ids
from inference.errors import ContextTooLong, ModelNotFound
from inference.params import SamplingParams, with_seed
from inference.records import Completion, Conversation
from mlcore.heads import chunked_logits, plain_output_head


class TransformersBackend:
    """Generate with a local transformers folder (float32), or with a module given to
    `from_model`."""

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
        lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        self._setup(lm, AutoTokenizer.from_pretrained(folder), str(folder), max_context, truncation)
        self.batch_size = batch_size

    @classmethod
    def from_model(
        cls,
        lm: torch.nn.Module,
        tokenizer: Any,
        *,
        name: str = "actor",
        max_context: int = 2048,
        truncation: TruncationPolicy = "refuse",
        batch_size: int = 8,
    ) -> TransformersBackend:
        """A backend over a causal-LM module as it is (its device, its current weights)."""
        backend = cls.__new__(cls)
        backend._setup(lm, tokenizer, name, max_context, truncation)
        backend.batch_size = batch_size
        return backend

    def _setup(self, lm, tokenizer, name: str, max_context: int, truncation) -> None:
        self.model = name
        self.lm = lm
        self.tokenizer = tokenizer
        limit = getattr(lm.config, "max_position_embeddings", max_context)
        self.fitter = ContextFitter(tokenizer, min(max_context, limit), truncation)
        self.pad_id = tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = tokenizer.eos_token_id
        self.stop_ids = _stop_ids(tokenizer, getattr(lm, "generation_config", None))

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
        was_training = self.lm.training
        self.lm.eval()
        try:
            for start in range(0, len(prompts), self.batch_size):
                chunk = prompts[start : start + self.batch_size]
                chunk_params = per_sample[start : start + self.batch_size]
                results.extend(self._generate_batch(chunk, chunk_params))
        finally:
            self.lm.train(was_training)
        return results

    def close(self) -> None:
        """Nothing to release; the model is freed with the object."""

    @torch.inference_mode()
    def _generate_batch(
        self, prompts: list[tuple[list[int], int]], params: list[SamplingParams]
    ) -> list[Completion]:
        started = time.perf_counter()
        device = next(self.lm.parameters()).device
        rows = len(prompts)
        width = max(len(ids) for ids, _ in prompts)
        input_ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((rows, width), dtype=torch.long)
        for row, (ids, _) in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            mask[row, width - len(ids) :] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        sampler = RowSampler(params)
        tokens: list[list[int]] = [[] for _ in prompts]
        logprobs: list[list[float]] = [[] for _ in prompts]
        finish: list[str | None] = [None] * rows
        stop = torch.tensor(sorted(self.stop_ids), dtype=torch.long)

        from transformers import DynamicCache

        cache = DynamicCache(config=self.lm.config)
        logits = self._last_logits(input_ids, mask, positions, cache)
        for _ in range(max(p.max_tokens for p in params)):
            active = [f is None for f in finish]
            drawn = sampler.draw(logits, active)
            step = torch.where(torch.tensor(active), drawn, torch.tensor(self.pad_id))
            drawn_logprobs = sampler.logprobs(logits, step).tolist()
            stopped = torch.isin(step, stop).tolist()
            for row, token in enumerate(step.tolist()):
                if not active[row]:
                    continue
                tokens[row].append(token)
                logprobs[row].append(drawn_logprobs[row])
                if stopped[row]:
                    finish[row] = "stop"
                elif len(tokens[row]) >= params[row].max_tokens:
                    finish[row] = "length"
            if all(f is not None for f in finish):
                break
            mask = torch.cat([mask, torch.ones((rows, 1), dtype=torch.long, device=device)], 1)
            positions = positions[:, -1:] + 1
            logits = self._last_logits(step.view(rows, 1).to(device), mask, positions, cache)
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
                prompt_token_ids=tuple(ids),
                token_ids=tuple(toks),
                token_logprobs=tuple(lps),
            )
            for (ids, dropped), toks, lps, reason, p in zip(
                prompts, tokens, logprobs, finish, params, strict=True
            )
        ]

    def _last_logits(self, input_ids, mask, positions, cache) -> torch.Tensor:
        """Float32 logits (B, V) on the CPU of each row's last position; the cache grows."""
        inputs = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "position_ids": positions,
            "past_key_values": cache,
            "use_cache": True,
        }
        head = plain_output_head(self.lm)
        if head is None:
            return self.lm(**inputs, logits_to_keep=1).logits[:, -1, :].float().cpu()
        hidden = self.lm.get_decoder()(**inputs).last_hidden_state[:, -1]
        return chunked_logits(hidden, head.weight).cpu()


class RowSampler:
    """Draws one token per row per step, each row from its own seeded generator.

    Greedy rows (`SamplingParams.greedy`: temperature 0, or below GREEDY_BELOW) take the argmax
    and draw nothing. A sampling row draws one
    uniform number u and takes the token where the cumulative probability first exceeds
    u times the kept mass: over the vocabulary in id order, or, with top_p < 1, over the tokens
    sorted by probability (stable) cut to the smallest prefix whose mass reaches top_p.
    """

    def __init__(self, params: list[SamplingParams]) -> None:
        self.params = params
        self.generators = [torch.Generator().manual_seed(p.seed) for p in params]
        self.greedy = torch.tensor([p.greedy for p in params])
        temperatures = [1.0 if p.greedy else p.temperature for p in params]
        self.temperature = torch.tensor(temperatures).unsqueeze(1)
        self.nucleus = [i for i, p in enumerate(params) if not p.greedy and p.top_p < 1.0]

    def draw(self, logits: torch.Tensor, active: list[bool]) -> torch.Tensor:
        """Tokens (B,) for logits (B, V); rows not active draw nothing (their value is unused)."""
        tokens = torch.argmax(logits, dim=-1)
        sampled = [i for i, p in enumerate(self.params) if active[i] and not p.greedy]
        if not sampled:
            return tokens
        u = torch.zeros(len(self.params))
        for i in sampled:
            u[i] = torch.rand((), generator=self.generators[i])
        probs = torch.softmax(logits / self.temperature, dim=-1)
        cdf = torch.cumsum(probs, dim=-1)
        target = (u * cdf[:, -1]).unsqueeze(1)
        plain = torch.searchsorted(cdf, target, right=True).squeeze(1)
        tokens = torch.where(self.greedy, tokens, plain.clamp(max=logits.shape[-1] - 1))
        for i in self.nucleus:
            if active[i]:
                tokens[i] = _nucleus(probs[i], self.params[i].top_p, float(u[i]))
        return tokens

    def logprobs(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """log softmax(logits / temperature)[token] (B,) for logits (B, V) and tokens (B,):
        each row's temperature (1 for greedy rows), no top-p cut."""
        scaled = logits / self.temperature
        picked = scaled.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        return picked - torch.logsumexp(scaled, dim=-1)


def _nucleus(probs: torch.Tensor, top_p: float, u: float) -> int:
    sorted_probs, order = torch.sort(probs, descending=True, stable=True)
    cdf = torch.cumsum(sorted_probs, dim=-1)
    keep = int(torch.searchsorted(cdf, torch.tensor([top_p]), right=False)) + 1
    cdf = cdf[: min(keep, cdf.numel())]
    index = int(torch.searchsorted(cdf, torch.tensor([u]) * cdf[-1], right=True))
    return int(order[min(index, cdf.numel() - 1)])


def _stop_ids(tokenizer, generation_config) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return {i for i in ids if i is not None}
