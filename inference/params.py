"""Sampling parameters, checked when they are made: an invalid value never reaches a server
(vLLM issue 5822: invalid parameters killed the engine loop).

    from inference import SamplingParams
    SamplingParams(temperature=0.8, top_p=0.95, max_tokens=64, seed=1234)
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field, replace

MAX_TEMPERATURE = 2.0
# Below this a temperature is greedy decoding, in every backend (vLLM's _SAMPLING_EPS): dividing
# logits by 1e-39 gives inf, then NaN probabilities and garbage text.
GREEDY_BELOW = 1e-5
MAX_TOKENS_LIMIT = 4096
SEED_MAX = 2**32 - 1


@dataclass(frozen=True)
class SamplingParams:
    """Parameters of one sample. `temperature` 0 means greedy decoding; a temperature below
    GREEDY_BELOW is greedy too and is recorded as 0."""

    temperature: float = field(
        default=1.0, metadata={"help": f"in [0, 2]; 0 (or below {GREEDY_BELOW}) is greedy"}
    )
    top_p: float = field(default=1.0, metadata={"help": "nucleus mass, in (0, 1]"})
    max_tokens: int = field(default=256, metadata={"help": "new tokens, 1..MAX_TOKENS_LIMIT"})
    seed: int | None = field(default=None, metadata={"help": f"int in [0, {SEED_MAX}] or None"})

    def __post_init__(self) -> None:
        validate(self)
        object.__setattr__(self, "temperature", effective_temperature(self.temperature))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def effective_temperature(temperature: float) -> float:
    """The temperature a backend samples at: 0.0 (greedy) below GREEDY_BELOW, else as given."""
    return 0.0 if temperature < GREEDY_BELOW else float(temperature)


def validate(params: SamplingParams, *, max_tokens_limit: int = MAX_TOKENS_LIMIT) -> None:
    """Raise InvalidParams naming the first bad field."""
    from inference.errors import InvalidParams

    t = params.temperature
    if not _is_number(t) or not math.isfinite(t) or not 0.0 <= t <= MAX_TEMPERATURE:
        raise InvalidParams(f"temperature must be a number in [0, {MAX_TEMPERATURE}], got {t!r}")
    p = params.top_p
    if not _is_number(p) or not math.isfinite(p) or not 0.0 < p <= 1.0:
        raise InvalidParams(f"top_p must be a number in (0, 1], got {p!r}")
    m = params.max_tokens
    if not _is_int(m) or not 1 <= m <= max_tokens_limit:
        raise InvalidParams(f"max_tokens must be an int in [1, {max_tokens_limit}], got {m!r}")
    s = params.seed
    if s is not None and (not _is_int(s) or not 0 <= s <= SEED_MAX):
        raise InvalidParams(f"seed must be None or an int in [0, {SEED_MAX}], got {s!r}")


def with_seed(params: SamplingParams) -> SamplingParams:
    """The same params with a fresh random seed when none was given, so it can be recorded."""
    if params.seed is not None:
        return params
    return replace(params, seed=random.SystemRandom().randint(0, SEED_MAX))
