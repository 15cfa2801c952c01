"""Query parameters of the jobs and versions list endpoints, validated by django-filter (a bad
value answers 400 naming the parameter)."""

import django_filters

from .models import Iteration, Job, JobState, ModelVersion


def _visible_iterations(request):
    from .selectors import iterations_visible_to

    if request is None:
        return Iteration.objects.none()
    return iterations_visible_to(request.user)


class JobFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=JobState.choices, help_text="Only jobs in these states (repeat the parameter)."
    )
    iteration = django_filters.ModelChoiceFilter(
        queryset=_visible_iterations, help_text="Only the jobs of this iteration (its id)."
    )

    class Meta:
        model = Job
        fields = ["state", "iteration"]


class VersionFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(
        choices=ModelVersion.Kind.choices, help_text="Only versions of this kind."
    )

    class Meta:
        model = ModelVersion
        fields = ["kind"]
