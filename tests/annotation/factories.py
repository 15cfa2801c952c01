import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from annotation import roles
from annotation.models import (
    Assignment,
    Judgment,
    Prompt,
    PromptBatch,
    Response,
    ResponsePair,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            roles.ensure_role_groups()
            self.groups.add(Group.objects.get(name=extracted))
        self.save()


class BatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromptBatch

    name = factory.Sequence(lambda n: f"week-{n}")
    stage = "helpfulness"
    ordinal = factory.Sequence(lambda n: n + 1)
    status = PromptBatch.Status.OPEN


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    batch = factory.SubFactory(BatchFactory)
    messages = factory.Sequence(lambda n: [{"role": "user", "content": f"Question {n}?"}])


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    text = factory.Sequence(lambda n: f"Answer {n}.")
    variant_label = "policy-v0"
    temperature = 0.9
    top_p = 0.95
    seed = factory.Sequence(lambda n: 1000 + n)
    prompt_tokens = 12
    completion_tokens = 5
    generation_seconds = 0.4
    finish_reason = "stop"


class PairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResponsePair

    batch = factory.SubFactory(BatchFactory)
    context = factory.Sequence(lambda n: [{"role": "user", "content": f"Question {n}?"}])
    response_a = factory.SubFactory(ResponseFactory)
    response_b = factory.SubFactory(ResponseFactory)
    status = ResponsePair.Status.READY
    overlap = 1


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assignment

    pair = factory.SubFactory(PairFactory)
    annotator = factory.SubFactory(UserFactory, role=roles.ANNOTATOR)
    leased_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(minutes=10))


class JudgmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Judgment

    pair = factory.SubFactory(PairFactory)
    annotator = factory.SubFactory(UserFactory, role=roles.ANNOTATOR)
    chosen = "a"
    grade = "better"
