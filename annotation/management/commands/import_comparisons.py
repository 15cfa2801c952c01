from pathlib import Path

from django.core.management.base import BaseCommand

from annotation.imports import comparisons_import

from ._batch_args import add_batch_arguments, run_import


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
        self.stdout.write(run_import(options, comparisons_import, "comparisons"))
