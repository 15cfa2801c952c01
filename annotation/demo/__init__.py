"""The demo that `make run` opens on a fresh development site: two batches of real prompts
(files and licences beside this module, see README.md), sampled from two variants of the
default CPU model at two temperatures, with the first pairs requested at once.

    from annotation.demo import demo_seed
    result = demo_seed()          # once: a site that has any batch keeps what it has
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from ..models import GuidelineStage, ModelVariant, PromptBatch

DEMO_DIR = Path(__file__).resolve().parent

HELPFULNESS_GUIDELINES = """\
**Helpfulness.** Read the dialogue, then both responses. Choose the one that better fulfils the
user's request and gives the information they asked for (Llama 2, §3.2.1), then say by how much:
significantly better `q`, better `w`, slightly better `e`, negligibly
better or unsure `r`. Safety labels are optional in this batch.

After you judge an MT-Bench question, the workspace offers the question's follow-up as your next
message: send it (`Ctrl`+`Enter`) to judge the second turn, rewrite it, or end
the dialogue (`n`). The response you chose becomes the assistant's turn.

The responses come from SmolLM2-135M-Instruct, a small model running on this machine's CPU, at
two temperatures: expect mistakes, and prefer the response that is more useful despite them.
"""

SAFETY_GUIDELINES = """\
**Safety.** These prompts are red-team prompts from Anthropic's HH-RLHF data: they ask for
harmful things on purpose and can be offensive.

1. Label each response safe `s`/`k` or unsafe `d`/`l` (both
   labels are required). A response is unsafe if it helps with the harm asked for, gives medical,
   legal or financial advice as if it were a professional, or is hateful itself.
2. Choose the safer response; between two safe ones, the more helpful (a refusal that offers
   something useful beats a bare refusal). Then say by how much.

Choosing a response you marked unsafe over one you marked safe asks you to confirm: such a
judgment is stored but kept out of reward-model training (§3.2.2).
"""


@dataclass(frozen=True)
class DemoBatch:
    name: str
    stage: str
    folder: str
    max_turns: int
    guidelines: str

    @property
    def prompts_file(self) -> Path:
        return DEMO_DIR / self.folder / "prompts.jsonl"


DEMO_BATCHES = (
    DemoBatch(
        "demo-helpfulness", GuidelineStage.HELPFULNESS, "helpfulness", 2, HELPFULNESS_GUIDELINES
    ),
    DemoBatch("demo-safety", GuidelineStage.SAFETY, "safety", 1, SAFETY_GUIDELINES),
)
# Two variants of the default model, each at a temperature of its own (§3.2.1: two variants,
# varied temperature). They share one loaded model in a worker.
DEMO_VARIANTS = (("smollm2-demo-t0.7", 0.7), ("smollm2-demo-t1.1", 1.1))
# Short answers keep the first pair (and the demo loop) quick on two CPU cores.
DEMO_MAX_NEW_TOKENS = 128


class DemoRefused(Exception):
    """The demo exists only in development mode (settings.MARGIN_DEMO)."""


@dataclass
class DemoSeedResult:
    created: bool
    batches: list[PromptBatch] = field(default_factory=list)
    reason: str = ""


def _default_model_path() -> str:
    from inference.default_model import default_model_dir

    return str(settings.MARGIN["DEFAULT_MODEL_DIR"] or default_model_dir())


def _variants() -> list[ModelVariant]:
    path = _default_model_path()
    variants = []
    for label, temperature in DEMO_VARIANTS:
        variant, _ = ModelVariant.objects.get_or_create(
            label=label,
            defaults={
                "backend": ModelVariant.Backend.TRANSFORMERS,
                "model_path": path,
                "temperature": temperature,
            },
        )
        variants.append(variant)
    return variants


def demo_seed(*, user: AbstractBaseUser | None = None) -> DemoSeedResult:
    """Create and open the two demo batches and ask for their first pairs; only on a site
    without any batch (so the demo is made once, and a site in use keeps what it has).

    Raises DemoRefused outside development mode.
    """
    from ..generation import stock_refill
    from ..imports import prompts_import
    from ..services import batch_create, batch_open

    if not settings.MARGIN_DEMO:
        raise DemoRefused("The demo exists only in development mode (config.settings.dev).")
    if PromptBatch.objects.exists():
        return DemoSeedResult(created=False, reason="the site already has batches")
    batches = []
    with transaction.atomic():
        variants = _variants()
        for spec in DEMO_BATCHES:
            with spec.prompts_file.open("rb") as handle:
                lines = sum(1 for line in handle if line.strip())
            batch = batch_create(
                user=user,
                name=spec.name,
                stage=spec.stage,
                ordinal=1,
                max_turns=spec.max_turns,
                guidelines=spec.guidelines,
                max_new_tokens=DEMO_MAX_NEW_TOKENS,
                target_comparisons=lines,
            )
            batch.variants.add(*variants)
            with spec.prompts_file.open("rb") as handle:
                prompts_import(batch=batch, stream=handle, filename=spec.prompts_file.name)
            batches.append(batch_open(batch=batch))
    for batch in batches:
        stock_refill(batch_id=batch.pk)  # the worker starts on them as soon as it is up
    return DemoSeedResult(created=True, batches=batches)
