"""`makemigrations`, then Electric's verdict on what it just wrote.

Django runs the system checks before it writes a migration, so they cannot see the new one; this
judges the new migrations at once, the way electric/checks.py will on every later command.
"""

from django.core.management import CommandError
from django.core.management.commands import makemigrations

from electric.checks import history_messages
from electric.schema_history import SchemaHistory


class Command(makemigrations.Command):
    def write_migration_files(self, changes, update_previous_migration_paths=None):
        super().write_migration_files(changes, update_previous_migration_paths)
        written = [migration for migrations in changes.values() for migration in migrations]
        # The new migrations are on disk now, unless --dry-run: replay them either way.
        history = SchemaHistory.from_disk(extra_migrations=written)
        messages = [
            message
            for message in history_messages(history, migrations=written)
            if not message.is_silenced()
        ]
        for message in messages:
            style = self.style.ERROR if message.is_serious() else self.style.WARNING
            self.stderr.write(style(str(message)))
        refused = sum(message.is_serious() for message in messages)
        if refused:
            raise CommandError(
                f"Electric's migrations proxy would refuse {refused} operation(s) above: edit the "
                "migration as the hints say before you migrate."
            )
