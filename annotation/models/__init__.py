from .batches import GuidelineStage, PromptBatch, PromptSource
from .dialogues import Dialogue, Prompt
from .exports import ExportJob
from .judgments import Assignment, Judgment, SafetyBin
from .pairs import ModelVariant, Response, ResponsePair

__all__ = [
    "Assignment",
    "Dialogue",
    "ExportJob",
    "GuidelineStage",
    "Judgment",
    "ModelVariant",
    "Prompt",
    "PromptBatch",
    "PromptSource",
    "Response",
    "ResponsePair",
    "SafetyBin",
]
