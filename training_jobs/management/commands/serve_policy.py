"""Make a succeeded policy a serving variant, as the version page and the API do.

    manage.py serve_policy RLHF-V2-policy --batch "week 7 helpfulness" --replace
    manage.py serve_policy 12 --backend http --server-url http://gpu-1:8000/v1

VERSION is a policy version's id or name; --batch a batch's id or name.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.models import ModelVariant, PromptBatch
from training_jobs.models import ModelVersion
from training_jobs.services import JobError, policy_serve


def _by_id_or_name(queryset, value: str, what: str):
    found = queryset.filter(pk=int(value)) if value.isdigit() else queryset.filter(name=value)
    item = found.first()
    if item is None:
        raise CommandError(f"no {what} {value!r}")
    return item


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", help="policy version id or name")
        parser.add_argument("--label", default="", help="variant name (default: the version's)")
        parser.add_argument("--batch", default="", help="batch id or name to sample pairs for")
        parser.add_argument(
            "--replace", action="store_true", help="take the place of the batch's other variants"
        )
        parser.add_argument(
            "--backend", choices=ModelVariant.Backend.values, default="transformers"
        )
        parser.add_argument("--server-url", default="", help="http backend: the vLLM server")
        parser.add_argument("--model-name", default="", help="http backend: its served name")

    def handle(self, *args, **options) -> None:
        policies = ModelVersion.objects.filter(kind=ModelVersion.Kind.POLICY)
        version = _by_id_or_name(policies, options["version"], "policy version")
        batch = (
            _by_id_or_name(PromptBatch.objects.all(), options["batch"], "batch")
            if options["batch"]
            else None
        )
        try:
            variant = policy_serve(
                version=version,
                label=options["label"],
                batch=batch,
                backend=options["backend"],
                server_url=options["server_url"],
                model_name=options["model_name"],
                replace=options["replace"],
            )
        except (JobError, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        where = f" for batch {batch.name}" if batch else ""
        self.stdout.write(f"{version.name} now serves as variant {variant.label}{where}")
