from .iterations import Iteration, ModelVersion
from .jobs import Job, JobKind, JobState
from .scores import ResponseScore

__all__ = ["Iteration", "Job", "JobKind", "JobState", "ModelVersion", "ResponseScore"]
