"""The reward a sample is selected by: the paper's routing between the two reward models.

    R_c = R_s  if IS_SAFETY(p) or R_s < 0.15  else R_h        (Touvron et al., 2023, §3.2.3)

with the gate on the paper's scale, the sigmoid of the safety model's scalar output. The
threshold (`rewardtrain.grades.UNSAFE_THRESHOLD`) had precision 0.89 and recall 0.55 on the
safety test set. `route_reason` is the one routing rule: rejection sampling selects by the
routed sigmoid score (`combined_reward`), PPO optimises the routed raw score (`routed_raw`;
R~_c = WHITEN(LOGIT(R_c)), and LOGIT of the sigmoid is the raw score, which float32 cannot
recover from the sigmoid once |x| > ~17).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rewardtrain.grades import UNSAFE_THRESHOLD
from training_jobs.rlhf.config import Scoring

RewardModelName = Literal["helpfulness", "safety"]
RouteReason = Literal["safety_flag", "threshold", "helpfulness"]
ROUTE_REASONS: tuple[RouteReason, ...] = ("safety_flag", "threshold", "helpfulness")


def sigmoid(x: float) -> float:
    """The paper's scale of a raw reward, computed without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def route_reason(
    is_safety: bool, safety_p: float | None, threshold: float = UNSAFE_THRESHOLD
) -> RouteReason:
    """Why a sample gets the reward it gets: "safety_flag" (a safety prompt: R_s),
    "threshold" (sigmoid(R_s) below the threshold: R_s) or "helpfulness" (R_h).

    ``safety_p`` is sigmoid(R_s), or None when there is no safety model (then R_h always).
    A score exactly at the threshold is not below it, so it goes to R_h.
    """
    if safety_p is None:
        return "helpfulness"
    if is_safety:
        return "safety_flag"
    if safety_p < threshold:
        return "threshold"
    return "helpfulness"


def route(
    is_safety: bool, safety_p: float | None, threshold: float = UNSAFE_THRESHOLD
) -> RewardModelName:
    """Which reward model judges a sample: "safety" (R_s) or "helpfulness" (R_h)."""
    reason = route_reason(is_safety, safety_p, threshold)
    return "helpfulness" if reason == "helpfulness" else "safety"


def routed_raw(
    is_safety: bool,
    helpfulness_raw: float,
    safety_raw: float | None,
    threshold: float = UNSAFE_THRESHOLD,
) -> tuple[float, RouteReason]:
    """R_c on the reward models' raw scale (what PPO whitens) and why it was routed there."""
    reason = route_reason(is_safety, None if safety_raw is None else sigmoid(safety_raw), threshold)
    if reason == "helpfulness":
        return helpfulness_raw, reason
    return safety_raw, reason  # type: ignore[return-value]


@dataclass(frozen=True)
class Reward:
    """One sample's rewards on the paper's scale and the one that was used."""

    helpfulness: float
    safety: float | None
    used: RewardModelName

    @property
    def value(self) -> float:
        return self.safety if self.used == "safety" else self.helpfulness  # type: ignore[return-value]

    def to_json(self) -> dict[str, Any]:
        return {
            "reward": self.value,
            "used": self.used,
            "helpfulness": self.helpfulness,
            "safety": self.safety,
        }


def combined_reward(
    is_safety: bool,
    helpfulness_raw: float,
    safety_raw: float | None,
    threshold: float = UNSAFE_THRESHOLD,
) -> Reward:
    """R_c of one sample from the two reward models' raw outputs."""
    h = sigmoid(helpfulness_raw)
    s = None if safety_raw is None else sigmoid(safety_raw)
    return Reward(h, s, route(is_safety, s, threshold))


class RewardModels:
    """R_h and optionally R_s, loaded once, scoring (prompt, answers) groups in packed rows."""

    def __init__(
        self,
        helpfulness: str,
        safety: str = "",
        threshold: float = UNSAFE_THRESHOLD,
        pack_tokens: int = 2048,
    ) -> None:
        if not helpfulness:
            raise SystemExit("a helpfulness reward model folder is needed")
        self.paths = {"helpfulness": helpfulness, "safety": safety}
        self.threshold = threshold
        self.pack_tokens = pack_tokens
        from rewardtrain.model import load_reward_model, pick_device

        self.device = pick_device("auto")
        self.models = {
            name: load_reward_model(path, self.device) for name, path in self.paths.items() if path
        }

    @classmethod
    def from_config(cls, scoring: Scoring) -> RewardModels:
        return cls(
            scoring.helpfulness_model,
            scoring.safety_model,
            scoring.safety_threshold,
            scoring.pack_tokens,
        )

    def raw(self, name: str, groups: Sequence[dict[str, Any]]) -> list[list[float]]:
        """Raw rewards of each group's answers: groups are {"prompt": [...], "responses": [...]}."""
        import torch

        from rewardtrain.evaluate import score_items
        from rewardtrain.score import item_of

        model, tokenizer = self.models[name]
        # The policy's own answers, scored as written: they are not read from a file, so the
        # file reader's refusals (e.g. of a U+0000 the model wrote) do not apply.
        items = [item_of(tokenizer, _dialogues(g), k) for k, g in enumerate(groups)]
        with torch.inference_mode():
            scores = score_items(model, items, self.pack_tokens, device=self.device)
        return [scores[k] for k in range(len(groups))]

    def score(
        self,
        prompts: Sequence[list[dict[str, str]]],
        answers: Sequence[list[str]],
        safety: Sequence[bool],
    ) -> list[list[Reward]]:
        """R_c of every answer, grouped by prompt as given."""
        groups = [
            {"prompt": p, "responses": list(a)} for p, a in zip(prompts, answers, strict=True)
        ]
        helpful = self.raw("helpfulness", groups)
        safe = self.raw("safety", groups) if "safety" in self.models else None
        return [
            [
                combined_reward(is_safety, h, None if safe is None else safe[i][j], self.threshold)
                for j, h in enumerate(helpful[i])
            ]
            for i, is_safety in enumerate(safety)
        ]


def reward_model_record(path: str) -> dict[str, Any] | None:
    """A reward model folder in a policy's provenance: its path and its rewardtrain.json."""
    import json
    from pathlib import Path

    if not path:
        return None
    meta = Path(path) / "rewardtrain.json"
    return {
        "path": str(Path(path).resolve()),
        "rewardtrain": json.loads(meta.read_text()) if meta.is_file() else None,
    }


def _dialogues(group: dict[str, Any]) -> list[list[dict[str, str]]]:
    """Each answer of a group appended to its prompt as the assistant's turn."""
    return [[*group["prompt"], {"role": "assistant", "content": r}] for r in group["responses"]]
