from pathlib import Path

from django.core.management.base import BaseCommand

from annotation.imports import prompts_import

from ._batch_args import add_batch_arguments, run_import


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
        self.stdout.write(run_import(options, prompts_import, "prompts"))
