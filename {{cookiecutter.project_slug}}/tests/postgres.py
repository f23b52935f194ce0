"""The PostgreSQL servers and databases tests run on, as plain connection settings."""

from pytest_postgresql.janitor import DatabaseJanitor


def server_settings(proc):
    """HOST, PORT, USER, PASSWORD and NAME of a server pytest-postgresql started."""
    return {
        "HOST": proc.host,
        "PORT": proc.port,
        "USER": proc.user,
        "PASSWORD": proc.password or "",
        "NAME": proc.dbname,
    }


def temporary_database(server, name, template=None):
    """Creates database `name` on entry (a copy of `template`, if given), drops it on exit."""
    return DatabaseJanitor(
        user=server["USER"],
        password=server["PASSWORD"],
        host=server["HOST"],
        port=server["PORT"],
        dbname=name,
        template_dbname=template,
    )
