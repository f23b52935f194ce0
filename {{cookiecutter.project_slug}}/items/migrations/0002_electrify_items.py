from django.db import migrations

from electric.operations import EnableElectric


class Migration(migrations.Migration):
    """Electrify `items` in a migration of its own.

    Run it through Electric's proxy: `./manage.py migrate --database=proxy`. Electric cannot
    un-electrify a table, so this migration is irreversible.
    """

    dependencies = [("items", "0001_initial")]

    operations = [EnableElectric("item")]
