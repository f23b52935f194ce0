"""Refuse to serve with the Electric auth settings the system checks refuse.

runserver, migrate and `check` run the system checks; gunicorn and uvicorn do not. So the WSGI and
ASGI entry points (config/wsgi.py, config/asgi.py) call this: the production image never serves
insecure Electric auth unless told to (electric.E021), nor a configuration that would answer
every token request with a 500 (electric.E010 to E015). Silenced checks stay silent here too.
"""

from django.core.exceptions import ImproperlyConfigured


class RefusedToStart(ImproperlyConfigured, RuntimeError):
    """Also a RuntimeError: gunicorn prints that as one line, `Error: ...`, and exits 1 when it
    loads the app before forking (`--preload`, as the Dockerfile runs it); without `--preload`
    every worker fails to boot and gunicorn stops all the same."""


def refuse_unsafe_auth():
    """Raise RefusedToStart, one line per problem, if the Electric auth checks find an error."""
    from electric.auth_checks import STARTUP_CHECKS

    problems = [
        message
        for check in STARTUP_CHECKS
        for message in check()
        if message.is_serious() and not message.is_silenced()
    ]
    if problems:
        raise RefusedToStart(
            "\n".join(
                " ".join(part for part in ("Refusing to start:", problem.msg, problem.hint) if part)
                + f" ({problem.id})"
                for problem in problems
            )
        )
