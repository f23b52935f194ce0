import uuid

import pytest
from django.core.management import call_command
from django.db import models
from django.test.utils import isolate_apps

from electric.checks import electrified_models
from electric.rules import check_electrifiable
from items.models import Item


def ids(messages):
    return sorted(message.id for message in messages)


def test_the_checks_find_the_tables_that_migrations_electrify():
    assert electrified_models() == [Item]


def test_the_sample_model_passes_every_check():
    assert check_electrifiable(Item) == []


def test_manage_py_check_passes_on_the_project(capsys):
    call_command("check", "--fail-level", "WARNING")
    assert "no issues" in capsys.readouterr().out


@isolate_apps("items")
def test_each_thing_electric_refuses_is_reported_with_what_to_use_instead():
    class Parent(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)

        class Meta:
            app_label = "items"

    class Bad(models.Model):
        title = models.CharField(max_length=200)
        price = models.DecimalField(max_digits=8, decimal_places=2)
        stock = models.PositiveIntegerField()
        slug = models.TextField(unique=True)
        profile = models.OneToOneField(Parent, on_delete=models.CASCADE)
        state = models.TextField(db_default="new")
        parent = models.ForeignKey(Parent, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "items"
            db_table = 'other"."bad'
            constraints = [models.CheckConstraint(condition=models.Q(stock__lt=10), name="few")]

    messages = check_electrifiable(Bad)
    by_field = {(getattr(m.obj, "name", None), m.id) for m in messages}

    assert by_field == {
        (None, "electric.E001"),  # non-public schema
        (None, "electric.E002"),  # the CheckConstraint
        ("id", "electric.W001"),  # BigAutoField primary key
        ("title", "electric.E004"),  # varchar(200)
        ("price", "electric.E005"),  # numeric
        ("stock", "electric.E006"),  # CHECK (stock >= 0)
        ("slug", "electric.E003"),  # unique
        ("profile", "electric.E003"),  # OneToOneField is unique
        ("state", "electric.E007"),  # db_default
    }
    varchar = next(m for m in messages if m.id == "electric.E004")
    assert "varchar(200)" in varchar.msg and "TextField" in varchar.hint
    pk = next(m for m in messages if m.id == "electric.W001")
    assert "uuid.uuid4" in pk.hint


@isolate_apps("items")
def test_unsized_varchar_and_every_supported_type_pass():
    class Good(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)
        name = models.CharField()
        flag = models.BooleanField(default=False)
        blob = models.BinaryField()
        day = models.DateField()
        at = models.DateTimeField()
        clock = models.TimeField()
        ratio = models.FloatField()
        small = models.SmallIntegerField()
        count = models.IntegerField()
        big = models.BigIntegerField()
        data = models.JSONField(default=dict)
        uid = models.UUIDField()

        class Meta:
            app_label = "items"

    assert check_electrifiable(Good) == []


@pytest.mark.parametrize(
    "field, expected",
    [
        (models.EmailField(), "electric.E004"),
        (models.SlugField(), "electric.E004"),
        (models.DurationField(), "electric.E005"),
        (models.GenericIPAddressField(), "electric.E005"),
        (models.PositiveSmallIntegerField(), "electric.E006"),
    ],
)
def test_more_fields_electric_refuses(field, expected):
    with isolate_apps("items"):
        meta = type("Meta", (), {"app_label": "items"})
        attrs = {"__module__": __name__, "Meta": meta, "value": field}
        model = type("Single", (models.Model,), {**attrs, "id": models.UUIDField(primary_key=True)})
        assert ids(check_electrifiable(model)) == [expected]
