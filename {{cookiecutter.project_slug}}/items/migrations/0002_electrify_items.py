from django.db import migrations

from electric.operations import EnableElectric


class Migration(migrations.Migration):
    """Electrify `items` in a migration of its own.

    Written by `./manage.py electrify items.Item`; run it through Electric's proxy:
    `./manage.py migrate --database=proxy`. Electric cannot un-electrify a table, so going back
    past it is refused, except where ELECTRIC_SKIP_DDLX says no Electric ran it.
    """

    dependencies = [("items", "0001_initial")]

    operations = [EnableElectric("item")]
