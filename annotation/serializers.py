from rest_framework import serializers

from .grades import MarginTable
from .models import ExportJob, GuidelineStage, Judgment, Prompt, PromptBatch, ResponsePair


class BatchSerializer(serializers.ModelSerializer):
    class Meta:
        model = PromptBatch
        fields = [
            "id",
            "name",
            "stage",
            "ordinal",
            "status",
            "target_comparisons",
            "overlap",
            "max_turns",
            "prompt_source",
            "guidelines",
            "gold_rate",
            "temperature_min",
            "temperature_max",
            "top_p",
            "max_new_tokens",
            "created_at",
            "opened_at",
            "closed_at",
        ]
        read_only_fields = ["status", "created_at", "opened_at", "closed_at"]


class PromptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Prompt
        fields = [
            "id",
            "batch",
            "external_id",
            "messages",
            "source",
            "risk_category",
            "attack_vector",
            "metadata",
            "created_at",
        ]


class PromptBulkInputSerializer(serializers.Serializer):
    prompts = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=10_000
    )


class ResponseOutputSerializer(serializers.Serializer):
    text = serializers.CharField()
    variant_label = serializers.CharField()
    temperature = serializers.FloatField(allow_null=True)
    top_p = serializers.FloatField(allow_null=True)
    seed = serializers.IntegerField(allow_null=True)
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    generation_seconds = serializers.FloatField(allow_null=True)
    finish_reason = serializers.CharField()


class PairSerializer(serializers.ModelSerializer):
    response_a = ResponseOutputSerializer(allow_null=True)
    response_b = ResponseOutputSerializer(allow_null=True)

    class Meta:
        model = ResponsePair
        fields = [
            "id",
            "batch",
            "prompt",
            "dialogue",
            "turn",
            "context",
            "context_truncated",
            "response_a",
            "response_b",
            "origin",
            "status",
            "overlap",
            "taken",
            "is_gold",
            "attempts",
            "last_error",
            "generated_at",
            "created_at",
        ]


class JudgmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Judgment
        fields = [
            "id",
            "pair",
            "annotator",
            "origin",
            "chosen",
            "grade",
            "a_safe",
            "b_safe",
            "safety_bin",
            "rationale",
            "seconds_spent",
            "created_at",
        ]


class ImportInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["prompts", "comparisons"])
    file = serializers.FileField()


class ImportResultSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    created = serializers.IntegerField()


class ExportInputSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportJob.Format.values, default="trl")
    margin = serializers.ChoiceField(choices=MarginTable.values, default=MarginTable.SMALL)
    stage = serializers.ChoiceField(choices=GuidelineStage.values, required=False)
    batch = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    include_excluded = serializers.BooleanField(required=False, default=False)


class ExportJobSerializer(serializers.ModelSerializer):
    # "queued" until a worker takes it (also while the broker is down: it is sent later).
    status = serializers.CharField(source="state", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "format",
            "margin_table",
            "filters",
            "status",
            "rows",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "download_url",
        ]

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.state != ExportJob.Status.SUCCEEDED:
            return None
        request = self.context.get("request")
        path = f"/api/exports/{job.pk}/download/"
        return request.build_absolute_uri(path) if request else path
