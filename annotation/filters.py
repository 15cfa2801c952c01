"""Query parameters of the annotation list endpoints, validated by django-filter: a value of the
wrong type, out of range or naming nothing answers 400 with the parameter named."""

import django_filters

from .models import GuidelineStage, Judgment, PromptBatch, ResponsePair


def _visible_batches(request):
    from .selectors import batches_visible_to

    if request is None:
        return PromptBatch.objects.none()
    return batches_visible_to(request.user)


class PairFilter(django_filters.FilterSet):
    batch = django_filters.ModelChoiceFilter(
        queryset=_visible_batches, help_text="Only the pairs of this batch (its id)."
    )
    status = django_filters.ChoiceFilter(
        choices=ResponsePair.Status.choices, help_text="Only pairs in this generation status."
    )

    class Meta:
        model = ResponsePair
        fields = ["batch", "status"]


class JudgmentFilter(django_filters.FilterSet):
    batch = django_filters.ModelChoiceFilter(
        field_name="pair__batch",
        queryset=_visible_batches,
        help_text="Only the judgments of this batch (its id).",
    )
    stage = django_filters.ChoiceFilter(
        field_name="pair__batch__stage",
        choices=GuidelineStage.choices,
        help_text="Only judgments of batches of this stage.",
    )

    class Meta:
        model = Judgment
        fields = ["batch", "stage"]


class BatchFilter(django_filters.FilterSet):
    stage = django_filters.ChoiceFilter(choices=GuidelineStage.choices)
    status = django_filters.ChoiceFilter(choices=PromptBatch.Status.choices)

    class Meta:
        model = PromptBatch
        fields = ["stage", "status"]
