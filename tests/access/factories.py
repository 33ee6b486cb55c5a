"""factory-boy factories for principals, strategies and audit events."""
from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from access.choices import Outcome, Via
from access.models import AuditEvent
from strategies.models import Strategy


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"strategy_{n:04d}")


class UserFactory(factory.django.DjangoModelFactory):
    """A principal; ``UserFactory(roles=["approver"])`` puts it in the role groups."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n:04d}")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for role in extracted or []:
            group, _ = Group.objects.get_or_create(name=role)
            self.groups.add(group)
        self.__dict__.pop("_torghut_roles", None)


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent
        skip_postgeneration_save = True

    actor = factory.Sequence(lambda n: f"user{n:04d}")
    actor_roles = factory.LazyFunction(lambda: ["researcher"])
    via = Via.API
    method = "POST"
    path = "/api/v1/research/runs"
    action = "api-run-list"
    request_id = factory.Faker("uuid4")
    outcome = Outcome.OK
    status_code = 201
