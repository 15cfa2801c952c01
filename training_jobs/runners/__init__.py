"""Runners: what a job of each kind does on a worker. Each calls a Django-free core."""

from .evaluation import EvaluationRunner
from .ppo import PPORunner
from .rejection_sampling import RejectionSamplingRunner
from .reward_model import RewardModelRunner
from .simulation import SimulatedAnnotationRunner

RUNNERS = {
    "reward_helpfulness": RewardModelRunner("helpfulness"),
    "reward_safety": RewardModelRunner("safety"),
    "evaluation": EvaluationRunner(),
    "rejection_sampling": RejectionSamplingRunner(),
    "ppo": PPORunner(),
    "simulated_annotation": SimulatedAnnotationRunner(),
}

__all__ = ["RUNNERS"]
