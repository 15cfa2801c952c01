from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.imports import ImportFailed, comparisons_import

from ._batch_args import add_batch_arguments, resolve_batch


class Command(BaseCommand):
    help = (
        "Import ungraded comparisons from JSONL (optionally gzipped): Anthropic HH records "
        "{'chosen', 'rejected'} with '\\n\\nHuman:'/'\\n\\nAssistant:' turns, or TRL "
        "conversational records {'prompt', 'chosen', 'rejected'}. All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        add_batch_arguments(parser)

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        try:
            with transaction.atomic(), path.open("rb") as stream:
                batch = resolve_batch(options)
                result = comparisons_import(batch=batch, stream=stream, filename=path.name)
        except ImportFailed as exc:
            raise CommandError("\n".join([exc.summary(), *map(str, exc.errors)])) from exc
        self.stdout.write(f"Imported {result.created} comparisons into batch {batch.name!r}.")
