"""ASGI entry point, for `uvicorn config.asgi:application` and friends."""

import os

from django.core.asgi import get_asgi_application

from electric.startup import refuse_unsafe_auth

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# uvicorn runs no system checks: the Electric auth settings they refuse are refused here, in one
# line per problem, before anything loads.
refuse_unsafe_auth()
application = get_asgi_application()
