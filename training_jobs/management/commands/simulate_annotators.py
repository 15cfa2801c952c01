from django.core.management.base import BaseCommand, CommandError

from annotation.models import PromptBatch
from training_jobs.simulation.annotators import annotators_simulate


class Command(BaseCommand):
    help = (
        "Judge a batch's ready pairs with simulated annotators who follow a hidden utility "
        "(a deterministic rule on the text plus noise shaped by grade; safety labels from a "
        "word rule), through the real queue and submit. For demos, load and end-to-end tests."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", required=True, help="Batch name.")
        parser.add_argument("--annotators", type=int, default=3)
        parser.add_argument("--limit", type=int, help="Stop after this many judgments.")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options):
        batch = PromptBatch.objects.filter(name=options["batch"]).first()
        if batch is None:
            raise CommandError(f"No batch named {options['batch']!r}")
        result = annotators_simulate(
            batch=batch,
            annotators=options["annotators"],
            limit=options["limit"],
            seed=options["seed"],
        )
        self.stdout.write(
            f"{result.annotators} simulated annotators stored {result.judged} judgments."
        )
