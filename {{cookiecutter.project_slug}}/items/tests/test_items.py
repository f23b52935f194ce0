import uuid

import pytest
from django.db import connection

from electric.checks import electrified_models
from electric.rules import check_electrifiable
from items.models import Item


def test_migration_0002_electrifies_the_sample_and_electric_would_accept_it():
    assert Item in electrified_models()
    assert check_electrifiable(Item) == []


@pytest.mark.django_db
def test_an_item_round_trips_through_postgres():
    item = Item.objects.create(title="Buy milk", notes="two litres")

    stored = Item.objects.get(pk=item.pk)

    assert isinstance(stored.id, uuid.UUID)
    assert (stored.title, stored.notes, stored.done) == ("Buy milk", "two litres", False)
    assert stored.created_at == item.created_at
    assert stored.updated_at >= stored.created_at


@pytest.mark.django_db
def test_ids_are_made_in_python_before_the_insert():
    # Clients create rows offline: the id must not depend on a database sequence or default.
    item = Item(title="offline")
    assert isinstance(item.id, uuid.UUID)
    item.save()
    assert Item.objects.filter(id=item.id).exists()


@pytest.mark.django_db
def test_the_items_table_has_no_column_default_electric_would_refuse():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, column_default, character_maximum_length "
            "FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'items' ORDER BY ordinal_position"
        )
        columns = cursor.fetchall()

    # Every field of the model has its column (later fields too), none with a default...
    assert {field.column for field in Item._meta.local_fields} <= {name for name, *_ in columns}
    assert {name: default for name, _, default, _ in columns if default is not None} == {}
    assert {name: size for name, _, _, size in columns if size is not None} == {}  # varchar(N)
    # ...and every column a type Electric 0.12 syncs (as information_schema names them).
    assert {data_type for _, data_type, *_ in columns} <= {
        "bigint",
        "boolean",
        "bytea",
        "character varying",
        "date",
        "double precision",
        "integer",
        "jsonb",
        "real",
        "smallint",
        "text",
        "time without time zone",
        "timestamp with time zone",
        "timestamp without time zone",
        "uuid",
    }
