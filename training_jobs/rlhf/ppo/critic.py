"""The critic: a separate value model, initialised from the helpfulness reward model.

InstructGPT's practice, which TRL, OpenRLHF and NeMo-Aligner follow: the value model starts as
the reward model (body and scalar head), so its first estimates are already on the reward's
scale. It reads the policy's tokens, so that is possible only when the reward model shares the
policy's tokenizer; otherwise the critic starts from the policy's body with a new scalar head
(and `source` says so).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class Critic(nn.Module):
    """Values (B, T) at every position: the scalar head over the body's hidden states."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier
        # FSDP shards the decoder layers the classifier names.
        self._no_split_modules = getattr(classifier, "_no_split_modules", None)

    @property
    def body(self) -> nn.Module:
        return getattr(self.classifier, self.classifier.base_model_prefix)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
    ) -> torch.Tensor:
        hidden = self.body(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
        ).last_hidden_state
        return self.classifier.score(hidden).squeeze(-1).float()


def same_vocabulary(a, b) -> bool:
    """Whether two tokenizers give every text the same ids (same vocabulary and specials)."""
    return a.get_vocab() == b.get_vocab() and a.all_special_ids == b.all_special_ids


def load_critic(reward_model: str, policy: str, policy_tokenizer) -> tuple[Critic, str]:
    """The critic and where it started from: "reward_model:<path>" or "policy:<path>"."""
    from rewardtrain.model import load_sequence_classifier, load_tokenizer

    pad = policy_tokenizer.pad_token_id
    if pad is None:
        pad = policy_tokenizer.eos_token_id
    if same_vocabulary(load_tokenizer(reward_model), policy_tokenizer):
        source = f"reward_model:{Path(reward_model).resolve()}"
        classifier = load_sequence_classifier(reward_model, pad)
    else:
        source = f"policy:{Path(policy).resolve()}"
        classifier = load_sequence_classifier(policy, pad)
        nn.init.zeros_(classifier.score.weight)
    return Critic(classifier), source
