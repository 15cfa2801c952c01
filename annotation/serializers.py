from rest_framework import serializers

from inference.params import MAX_TEMPERATURE, MAX_TOKENS_LIMIT, effective_temperature

from .grades import MarginTable
from .models import ExportJob, GuidelineStage, Judgment, Prompt, PromptBatch, ResponsePair
from .models.batches import sampling_errors


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
        extra_kwargs = {
            "temperature_min": {"min_value": 0.0, "max_value": MAX_TEMPERATURE},
            "temperature_max": {"min_value": 0.0, "max_value": MAX_TEMPERATURE},
            "top_p": {"min_value": 0.0, "max_value": 1.0},
            "gold_rate": {"min_value": 0.0, "max_value": 1.0},
            "ordinal": {"min_value": 1, "max_value": 2**31 - 1},
            "overlap": {"min_value": 1, "max_value": 1000},
            "max_turns": {"min_value": 1, "max_value": 1000},
            "target_comparisons": {"min_value": 0, "max_value": 2**31 - 1},
            "max_new_tokens": {"min_value": 1, "max_value": MAX_TOKENS_LIMIT},
        }

    def validate(self, attrs):
        """The batch's sampling settings as one row: the range in order, top_p above 0, and a
        temperature below GREEDY_BELOW stored as 0 (greedy), as every backend samples it."""
        current = {name: getattr(self.instance, name, None) for name in self.Meta.fields}
        merged = {**current, **attrs}
        errors = sampling_errors(merged)
        if errors:
            raise serializers.ValidationError(errors)
        for name in ("temperature_min", "temperature_max"):
            if name in attrs:
                attrs[name] = effective_temperature(attrs[name])
        return attrs


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
    batch = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        default=list,
        max_length=1000,
    )
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
