import sys
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from annotation.exports import ExportFilters, comparisons_count, comparisons_export_lines
from annotation.grades import MarginTable
from annotation.models import GuidelineStage, PromptBatch


def _when(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = (
        "Export judgments as JSONL, streamed with constant memory. --format trl writes TRL's "
        "conversational preference form {prompt, chosen, rejected, margin}; --format full writes "
        "every field with provenance. Reward-model exports drop pairs whose chosen response is "
        "unsafe while the other is safe (the paper's exclusion) unless --include-excluded."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", default="-", help="File to write ('-' = stdout).")
        parser.add_argument("--format", choices=["trl", "full"], default="trl")
        parser.add_argument("--margin", choices=MarginTable.values, default=MarginTable.SMALL)
        parser.add_argument("--stage", choices=GuidelineStage.values)
        parser.add_argument("--batch", action="append", default=[], help="Batch name (repeat).")
        parser.add_argument("--since", type=_when, help="ISO date/time, inclusive.")
        parser.add_argument("--until", type=_when, help="ISO date/time, exclusive.")
        parser.add_argument("--include-excluded", action="store_true")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        batch_ids = []
        for name in options["batch"]:
            batch = PromptBatch.objects.filter(name=name).first()
            if batch is None:
                raise CommandError(f"No batch named {name!r}")
            batch_ids.append(batch.pk)
        filters = ExportFilters(
            stage=options["stage"],
            batch_ids=batch_ids,
            since=options["since"],
            until=options["until"],
            for_reward_model=not options["include_excluded"],
        )
        lines = comparisons_export_lines(
            filters=filters, fmt=options["format"], margin_table=options["margin"]
        )
        to_stdout = options["output"] == "-"
        total = None if options["no_progress"] else comparisons_count(filters)
        bar = tqdm(total=total, unit="rows", disable=options["no_progress"], file=sys.stderr)
        handle = self.stdout if to_stdout else open(options["output"], "w", encoding="utf-8")
        rows = 0
        try:
            for line in lines:
                handle.write(line, ending="") if to_stdout else handle.write(line)
                rows += 1
                if rows % 2000 == 0:
                    bar.update(2000)
            bar.update(rows % 2000)
        finally:
            bar.close()
            if not to_stdout:
                handle.close()
        self.stderr.write(f"Exported {rows} judgments.")
