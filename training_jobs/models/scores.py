from django.db import models


class ResponseScore(models.Model):
    """A reward model's raw score of one response (in the context of its pair)."""

    response = models.ForeignKey(
        "annotation.Response", on_delete=models.CASCADE, related_name="reward_scores"
    )
    model_version = models.ForeignKey(
        "training_jobs.ModelVersion", on_delete=models.CASCADE, related_name="response_scores"
    )
    score = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["response", "model_version"], name="response_score_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id}: response {self.response_id} = {self.score:.3f}"
