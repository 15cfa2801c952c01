from argparse import ArgumentParser
from collections.abc import Callable
from pathlib import Path

from django.core.management.base import CommandError
from django.db import transaction

from annotation.imports import ImportFailed, ImportResult
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


def run_import(options: dict, importer: Callable[..., ImportResult], noun: str) -> str:
    """Import options["file"] into the batch (created with it, atomically); a message."""
    path: Path = options["file"]
    if not path.is_file():
        raise CommandError(f"{path} is not a file")
    try:
        with transaction.atomic(), path.open("rb") as stream:
            batch = resolve_batch(options)
            result = importer(batch=batch, stream=stream, filename=path.name)
    except ImportFailed as exc:
        raise CommandError("\n".join([exc.summary(), *map(str, exc.errors)])) from exc
    return f"Imported {result.created} {noun} into batch {batch.name!r}."
