"""`makemigrations` that writes, for electrified models, migrations Electric's proxy accepts.

Django runs the system checks before it writes a migration, so they cannot see the new one. This
command, before it writes anything:
- rewrites the operations that have a safe equivalent (electric/safe_migrations.py), with a
  comment in the migration saying why it differs from Django's usual one;
- judges the rest the way electric/checks.py will on every later command, and refuses, writing
  nothing, when Electric's proxy would refuse an operation: each message names the recipe.
"""

import shutil
import subprocess
from pathlib import Path

from django.core.management import CommandError
from django.core.management.commands import makemigrations
from django.db.migrations.writer import MigrationWriter

from electric.checks import history_messages
from electric.safe_migrations import comment_block, make_safe
from electric.schema_history import SchemaHistory

MIGRATION_CLASS = "\n\nclass Migration("


class Command(makemigrations.Command):
    def write_migration_files(self, changes, update_previous_migration_paths=None):
        rewrites = make_safe(changes, SchemaHistory.from_disk())
        self._refuse_what_electric_refuses(changes)
        super().write_migration_files(changes, update_previous_migration_paths)
        for rewrite in rewrites:
            self.log(f"  For Electric: {rewrite.label}: {rewrite.what}")
        if not self.dry_run:
            self._explain(rewrites)
            format_with_ruff(self.written_files)

    def _refuse_what_electric_refuses(self, changes):
        new = [migration for migrations in changes.values() for migration in migrations]
        history = SchemaHistory.from_disk(extra_migrations=new)
        messages = [
            message
            for message in history_messages(history, migrations=new)
            if not message.is_silenced()
        ]
        for message in messages:
            style = self.style.ERROR if message.is_serious() else self.style.WARNING
            self.stderr.write(style(str(message)))
        refused = sum(message.is_serious() for message in messages)
        if refused:
            raise CommandError(
                f"Electric's migrations proxy would refuse {refused} operation(s) above, so no "
                "migration was written: change the model as the hints say, then run "
                "makemigrations again."
            )

    def _explain(self, rewrites):
        """Say in each rewritten migration why it is not what Django usually writes."""
        for migration in {id(r.migration): r.migration for r in rewrites}.values():
            path = Path(MigrationWriter(migration).path)
            source = path.read_text(encoding="utf-8")
            mine = [r for r in rewrites if r.migration is migration]
            block = comment_block(mine)
            path.write_text(
                source.replace(MIGRATION_CLASS, f"\n\n{block}class Migration(", 1),
                encoding="utf-8",
            )


def format_with_ruff(paths):
    """Format what was written as the project's linters want it, where ruff is installed (the
    development image, a dev install): Django formats new migrations with black only."""
    ruff = shutil.which("ruff")
    if not ruff or not paths:
        return
    for command in (["check", "--fix", "--select", "I", "--quiet"], ["format", "--quiet"]):
        subprocess.run([ruff, *command, *paths], check=False)  # noqa: S603 (our own paths)
