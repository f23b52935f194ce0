"""The project's own pages, which belong to no app: the home page."""

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

PROJECT_NAME = {{ cookiecutter.project_name|tojson }}
DESCRIPTION = {{ cookiecutter.description|tojson }}
# Vite's dev server (`npm run dev` in client/), on its default port.
CLIENT_DEV_URL = "http://localhost:5173/"
AUTH_MODES = {
    "insecure": "Electric checks no signature: any client can sync as any user. "
    "For local development only.",
    "secure": "Electric accepts only tokens signed with AUTH_JWT_KEY, as Django issues them.",
}
UNKNOWN_AUTH_MODE = "not a mode Electric knows: see ./manage.py check."


@require_safe
def home(request):
    """What runs where, and where to go next: addresses and modes, never a password or a key."""
    proxy = settings.DATABASES["proxy"]
    mode = settings.ELECTRIC_AUTH_MODE
    context = {
        "project_name": PROJECT_NAME,
        "description": DESCRIPTION,
        "electric_url": settings.ELECTRIC_URL,
        "proxy_address": f"{proxy['HOST']}:{proxy['PORT']}",
        "auth_mode": mode,
        "auth_mode_means": AUTH_MODES.get(mode, UNKNOWN_AUTH_MODE),
        "admin_url": reverse("admin:index"),
        "token_url": reverse("electric:token"),
        "client_url": CLIENT_DEV_URL,
    }
    return render(request, "home.html", context)
