"""The reward model: a causal-LM body with its next-token head replaced by a scalar head.

Saved as a standard ``AutoModelForSequenceClassification`` folder (``num_labels=1``,
safetensors, config, tokenizer), so transformers, TRL and vLLM (``--runner pooling``) load it
as it is. Training and scoring run the body on packed rows (see ``packing.py``) and apply the
scalar head only at the reward tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def is_reward_model(path: str | Path) -> bool:
    """True when the folder already holds a one-label sequence-classification model."""
    config = json.loads((Path(path) / "config.json").read_text())
    architectures = config.get("architectures") or []
    labels = len(config.get("id2label") or {}) or config.get("num_labels", 0)
    return any(a.endswith("ForSequenceClassification") for a in architectures) and labels == 1


def load_sequence_classifier(path: str | Path, pad_token_id: int | None, dtype=torch.float32):
    """Load a reward model folder, or initialise one from a causal-LM checkpoint folder.

    From a causal LM the body's weights are kept and the scalar ``score`` head is newly
    initialised (from torch's global generator, so seed before calling).
    """
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, dtype=dtype, attn_implementation="sdpa"
    )
    model.config.pad_token_id = pad_token_id
    model.config.use_cache = False
    return model


class RewardModel(nn.Module):
    """Wraps a sequence-classification model to score packed rows.

    forward(...) → rewards (R,): the scalar head applied to the body's last hidden states at
    ``reward_index`` (R,), the positions of the reward tokens in the packed row.
    """

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    @property
    def body(self) -> nn.Module:
        return getattr(self.classifier, self.classifier.base_model_prefix)

    @property
    def head(self) -> nn.Module:
        return self.classifier.score

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        reward_index: torch.Tensor,
    ) -> torch.Tensor:
        hidden = self.body(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
            use_cache=False,
        ).last_hidden_state
        return self.head(hidden[0, reward_index])[:, 0].float().clone()


def save_reward_model(
    classifier: nn.Module,
    tokenizer,
    out_dir: str | Path,
    state_dict: dict[str, torch.Tensor] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write the folder transformers loads with AutoModelForSequenceClassification."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    classifier.config.use_cache = True
    classifier.save_pretrained(out_dir, state_dict=state_dict, safe_serialization=True)
    classifier.config.use_cache = False
    tokenizer.save_pretrained(out_dir)
    if metadata is not None:
        (out_dir / "rewardtrain.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return out_dir
