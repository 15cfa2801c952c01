import json

from django import forms

from annotation.models import ModelVariant
from annotation.validators import validate_server_url

from .. import selectors
from ..models import Iteration, JobKind, ModelVersion
from ..runners import RUNNERS


class JobForm(forms.Form):
    kind = forms.ChoiceField(choices=())
    iteration = forms.ModelChoiceField(
        queryset=Iteration.objects.all(), required=False, empty_label="(no iteration)"
    )
    params = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        required=False,
        initial="{}",
        help_text="A JSON object; each key is checked against the kind's configuration.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind, JobKind(kind).label) for kind in RUNNERS]

    def clean_params(self) -> dict:
        text = (self.cleaned_data.get("params") or "").strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("params must be a JSON object ({...})")
        return value


class IterationForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    start_policy = forms.ModelChoiceField(
        queryset=ModelVersion.objects.filter(kind=ModelVersion.Kind.POLICY),
        required=False,
        empty_label="(the latest produced policy)",
    )


class ServePolicyForm(forms.Form):
    label = forms.CharField(
        max_length=100, required=False, help_text="The variant's name; default: the policy's."
    )
    batch = forms.ModelChoiceField(
        queryset=selectors.batches_to_serve(),
        required=False,
        empty_label="(no batch now)",
        help_text="The batch whose pairs it samples.",
    )
    replace = forms.BooleanField(
        required=False, help_text="Take the place of the batch's other variants."
    )
    backend = forms.ChoiceField(choices=ModelVariant.Backend.choices, initial="transformers")
    server_url = forms.CharField(
        max_length=500,
        required=False,
        validators=[validate_server_url],
        help_text="HTTP backend: the vLLM server already serving this policy.",
    )
    model_name = forms.CharField(
        max_length=200, required=False, help_text="HTTP backend: its name on that server."
    )
