"""WSGI entry point, for `gunicorn config.wsgi` and friends."""

import os

from django.core.wsgi import get_wsgi_application

from electric.startup import refuse_unsafe_auth

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# gunicorn runs no system checks: the Electric auth settings they refuse are refused here, in one
# line per problem, before anything loads.
refuse_unsafe_auth()
application = get_wsgi_application()
