"""Plain `./manage.py runserver` serves the port compose publishes, not Django's 8000.

No server starts here: the command Django loads is asked for its default, and run with its server
replaced by a stand-in that records the address it was given.
"""

import os

import pytest
from django.contrib.staticfiles.management.commands.runserver import (
    Command as StaticfilesRunserverCommand,
)
from django.core.management import call_command, get_commands, load_command_class

from tests.django_commands import setting


def runserver():
    """The `runserver` command as `manage.py runserver` finds it."""
    return load_command_class(get_commands()["runserver"], "runserver")


def test_the_projects_runserver_is_found_before_staticfiles_own():
    assert get_commands()["runserver"] == "config"
    # Still staticfiles' runserver underneath: it serves static files while DEBUG is on.
    assert isinstance(runserver(), StaticfilesRunserverCommand)


def test_its_default_port_is_the_baked_one():
    assert runserver().default_port == "{{ cookiecutter.django_port }}"


def serve(monkeypatch, *args):
    """(address, port) that `runserver *args` would serve, without starting a server."""
    command = runserver()
    served = []

    def run(**options):
        served.append((command.addr, command.port))

    monkeypatch.setattr(command, "run", run)
    call_command(command, *args, use_reloader=False)
    [address] = served
    return address


def test_plain_runserver_serves_the_baked_port(monkeypatch):
    assert serve(monkeypatch) == ("127.0.0.1", "{{ cookiecutter.django_port }}")


def test_the_port_follows_the_setting_and_the_command_line_still_wins(monkeypatch, settings):
    settings.DJANGO_PORT = 8123
    assert serve(monkeypatch) == ("127.0.0.1", "8123")
    assert serve(monkeypatch, "9000") == ("127.0.0.1", "9000")
    assert serve(monkeypatch, "0.0.0.0:9001") == ("0.0.0.0", "9001")


@pytest.mark.parametrize(
    "environment, port",
    [({}, {{ cookiecutter.django_port }}), ({"DJANGO_PORT": "8123"}, 8123)],
    ids=["default", "DJANGO_PORT"],
)
def test_the_setting_comes_from_django_port(environment, port):
    # The other settings from this environment or .env, which leaves DJANGO_PORT commented out.
    assert setting("DJANGO_PORT", {**os.environ, **environment}) == port
