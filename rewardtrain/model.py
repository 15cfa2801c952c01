"""The reward model: a causal-LM body with its next-token head replaced by a scalar head.

Saved as a standard ``AutoModelForSequenceClassification`` folder (``num_labels=1``,
safetensors, config, tokenizer), so transformers, TRL and vLLM (``--runner pooling``) load it
as it is. Training and scoring run the body on packed rows (see ``packing.py``) and apply the
scalar head only at the reward tokens.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rewardtrain.attention import PER_ITEM, Layout, implementation, register
from rewardtrain.packing import PackedRow

register()


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


def pick_device(name: str = "auto") -> torch.device:
    """The device a ``--device`` value names: "auto" is the GPU when CUDA is present.

    Raises SystemExit naming the value when it asks for CUDA on a machine without it.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine")
    return device


def load_reward_model(path: str | Path, device: torch.device, bf16: bool = False):
    """(RewardModel in eval mode on device, tokenizer) of a reward-model folder; bfloat16
    weights when bf16 and device is a GPU, else float32."""
    tokenizer = load_tokenizer(path)
    dtype = torch.bfloat16 if bf16 and device.type == "cuda" else torch.float32
    classifier = load_sequence_classifier(path, tokenizer.pad_token_id, dtype=dtype)
    return RewardModel(classifier).to(device).eval(), tokenizer


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
        attention_mask: torch.Tensor | None,
        reward_index: torch.Tensor,
        layout: Layout | None = None,
    ) -> torch.Tensor:
        """With `layout` (and no mask), attention runs item by item (attention.py)."""
        per_item = implementation(self.classifier.config, PER_ITEM) if layout else nullcontext()
        extra = {"layout": layout} if layout else {}
        with per_item:
            hidden = self.body(
                input_ids=input_ids,
                position_ids=position_ids,
                attention_mask=attention_mask,
                use_cache=False,
                **extra,
            ).last_hidden_state
        return self.head(hidden[0, reward_index])[:, 0].float().clone()


def run_row(model: nn.Module, row: PackedRow, per_item: bool) -> torch.Tensor:
    """Rewards (R,) of one packed row's responses: item-by-item attention, or the row's dense
    block mask (what SDPA's fused GPU kernels take)."""
    if per_item:
        return model(row.input_ids, row.position_ids, None, row.reward_index, layout=row.layout)
    return model(row.input_ids, row.position_ids, row.attention_mask(torch.bool), row.reward_index)


PER_ITEM_MIN_WIDTH = 512


def uses_per_item(attention: str, device: torch.device | str, model: nn.Module) -> bool:
    """`--attention auto`: item by item on the CPU for models of width PER_ITEM_MIN_WIDTH or
    more (SmolLM2's 576 and up, where the L x L attention is a large share of the work); the
    dense mask on a GPU (SDPA's fused kernels) and for tiny models (per-call overhead)."""
    if attention != "auto":
        return attention == "per_item"
    width = getattr(getattr(model, "module", model).classifier.config, "hidden_size", 0)
    return torch.device(device).type == "cpu" and width >= PER_ITEM_MIN_WIDTH


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
