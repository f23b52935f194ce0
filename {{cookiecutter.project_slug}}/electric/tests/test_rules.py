import uuid

import pytest
from django.db import models
from django.test.utils import isolate_apps

from electric.rules import check_electrifiable


def ids(messages):
    return sorted(message.id for message in messages)


@isolate_apps("electric")
def test_each_thing_electric_refuses_is_reported_with_what_to_use_instead():
    class Parent(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)

        class Meta:
            app_label = "electric"

    class Bad(models.Model):
        title = models.CharField(max_length=200)
        price = models.DecimalField(max_digits=8, decimal_places=2)
        stock = models.PositiveIntegerField()
        slug = models.TextField(unique=True)
        profile = models.OneToOneField(Parent, on_delete=models.CASCADE)
        state = models.TextField(db_default="new")
        parent = models.ForeignKey(Parent, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "electric"
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


@isolate_apps("electric")
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
            app_label = "electric"

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
    with isolate_apps("electric"):
        meta = type("Meta", (), {"app_label": "electric"})
        attrs = {"__module__": __name__, "Meta": meta, "value": field}
        model = type("Single", (models.Model,), {**attrs, "id": models.UUIDField(primary_key=True)})
        assert ids(check_electrifiable(model)) == [expected]
