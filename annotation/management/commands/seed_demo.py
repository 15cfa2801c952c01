from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from annotation import roles

DEMO_USERS = (
    ("admin", "margin-admin", roles.ADMIN, True),
    ("annotator", "margin-annotator", roles.ANNOTATOR, False),
    ("engineer", "margin-engineer", roles.ML_ENGINEER, False),
)


class Command(BaseCommand):
    help = "Create the demo admin, annotator and ML engineer (development mode only)."

    def handle(self, *args, **options):
        if not getattr(settings, "MARGIN_DEMO_USERS", False):
            raise CommandError("Demo users exist only in development mode (config.settings.dev).")
        roles.ensure_role_groups()
        User = get_user_model()
        for username, password, role, staff in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
            user.is_staff = staff
            user.is_superuser = staff
            user.save()
            user.groups.add(Group.objects.get(name=role))
            self.stdout.write(f"  {role:12} {username} / {password}")
