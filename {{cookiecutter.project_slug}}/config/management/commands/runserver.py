"""`./manage.py runserver` on this project's port, not Django's 8000.

compose's web service publishes Django on settings.DJANGO_PORT's default, and the client's dev
server (client/vite.config.ts) forwards /electric/ and /admin/ there: so plain `runserver` serves
settings.DJANGO_PORT (DJANGO_PORT in .env). A port or address on the command line still wins.

The command belongs to `config`, the project's own package, rather than to one of its apps: the
port is the whole project's (compose, .env, the client), not Electric's, the users' or the items'.
`config` comes before django.contrib.staticfiles in INSTALLED_APPS, so Django finds this command
first; it extends staticfiles' runserver, which serves the static files while DEBUG is on.
"""

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import (
    Command as StaticfilesRunserverCommand,
)


class Command(StaticfilesRunserverCommand):
    @property
    def default_port(self):
        # Read when the command runs, not when it is imported: settings decide.
        return str(settings.DJANGO_PORT)
