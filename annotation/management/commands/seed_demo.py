"""The demo of a development site: three logins and, on a site without batches, two open
batches of real prompts whose first pairs are requested at once (annotation/demo/).

    manage.py seed_demo [--url http://127.0.0.1:8000/]

Prints, for each login, what to do first and where (with --url, as full addresses).
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from annotation import roles
from annotation.demo import DEMO_BATCHES, demo_seed
from annotation.models import PromptBatch


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    staff: bool
    first_step: str


DEMO_USERS = (
    DemoUser("annotator", "margin-annotator", roles.ANNOTATOR, False, "judge pairs"),
    DemoUser("admin", "margin-admin", roles.ADMIN, True, "batches, generation and quality"),
    DemoUser(
        "engineer",
        "margin-engineer",
        roles.ML_ENGINEER,
        False,
        "export judgments, start a reward-model job",
    ),
)


def _users() -> None:
    roles.ensure_role_groups()
    User = get_user_model()
    for demo in DEMO_USERS:
        user, created = User.objects.get_or_create(username=demo.username)
        if created:
            user.set_password(demo.password)
        user.is_staff = demo.staff
        user.is_superuser = demo.staff
        user.save()
        user.groups.add(Group.objects.get(name=demo.role))


def _first_page(demo: DemoUser) -> str:
    """Where each role starts: the annotator in the first demo batch, the others at home."""
    if demo.role == roles.ANNOTATOR:
        batch = PromptBatch.objects.filter(
            name=DEMO_BATCHES[0].name, status=PromptBatch.Status.OPEN
        ).first()
        if batch is not None:
            return f"batches/{batch.pk}/work/"
    return ""


class Command(BaseCommand):
    help = (
        "Create the demo logins and, on a site without batches, the two demo batches "
        "(development mode only)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="/", help="The site's address, for the hints.")

    def handle(self, *args, **options):
        if not settings.MARGIN_DEMO:
            raise CommandError("The demo exists only in development mode (config.settings.dev).")
        _users()
        result = demo_seed()
        url = options["url"] if options["url"].endswith("/") else options["url"] + "/"
        for demo in DEMO_USERS:
            login = f"{demo.username} / {demo.password}"
            self.stdout.write(
                f"{demo.role:12} {login:30} {demo.first_step}: {url}{_first_page(demo)}"
            )
        if result.created:
            sizes = ", ".join(f"{b.name} ({b.prompts.count()} prompts)" for b in result.batches)
            self.stdout.write(f"Demo batches opened: {sizes}; their first pairs are on the way.")
        else:
            self.stdout.write(f"No demo batches created: {result.reason} (kept as it is).")
