from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.imports import ImportFailed, prompts_import

from ._batch_args import add_batch_arguments, resolve_batch


class Command(BaseCommand):
    help = (
        "Import prompts from a CSV or JSONL file (optionally gzipped) into a batch. Each record "
        "has 'prompt' (or 'text') or 'messages' (a list of {role, content} ending with a user "
        "turn), and optionally 'id', 'risk_category', 'attack_vector', 'metadata'. "
        "All or nothing: a bad line imports nothing and is named with its line number."
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
                result = prompts_import(batch=batch, stream=stream, filename=path.name)
        except ImportFailed as exc:
            raise CommandError("\n".join([exc.summary(), *map(str, exc.errors)])) from exc
        self.stdout.write(f"Imported {result.created} prompts into batch {batch.name!r}.")
