from argparse import ArgumentParser

from django.core.management.base import CommandError

from annotation.models import GuidelineStage, PromptBatch
from annotation.services import batch_create


def add_batch_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--batch", required=True, help="Name of the prompt batch to import into.")
    parser.add_argument(
        "--stage",
        choices=GuidelineStage.values,
        help="Create the batch with this stage if it does not exist yet.",
    )
    parser.add_argument("--ordinal", type=int, default=1, help="Week number for a new batch.")


def resolve_batch(options: dict) -> PromptBatch:
    batch = PromptBatch.objects.filter(name=options["batch"]).first()
    if batch:
        return batch
    if not options.get("stage"):
        raise CommandError(f"No batch named {options['batch']!r}; give --stage to create it.")
    return batch_create(name=options["batch"], stage=options["stage"], ordinal=options["ordinal"])
