from .demo_loop import (
    demo_loop_advance,
    demo_loop_after_job,
    demo_loop_resume,
    demo_loop_start,
    demo_loop_state,
)
from .iterations import iteration_create, model_version_register, policy_base_ensure
from .jobs import (
    JobError,
    job_cancel,
    job_claim,
    job_create,
    job_fail,
    job_mark_cancelled,
    job_progress,
    job_retry,
    job_succeed,
)
from .serving import policy_serve

__all__ = [
    "JobError",
    "demo_loop_advance",
    "demo_loop_after_job",
    "demo_loop_resume",
    "demo_loop_start",
    "demo_loop_state",
    "iteration_create",
    "job_cancel",
    "job_claim",
    "job_create",
    "job_fail",
    "job_mark_cancelled",
    "job_progress",
    "job_retry",
    "job_succeed",
    "model_version_register",
    "policy_base_ensure",
    "policy_serve",
]
