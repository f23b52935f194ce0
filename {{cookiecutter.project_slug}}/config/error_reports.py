"""What error pages and error e-mails may show: Django's filter, plus connection strings and keys.

Django's SafeExceptionReporterFilter hides the settings and request.META entries whose names
contain API, AUTH, TOKEN, KEY, SECRET, PASS, SIGNATURE or HTTP_COOKIE, and a traceback's local
variables only where `@sensitive_variables` marks them, and only with DEBUG off. That leaves what
a 500 here shows first: DATABASE_URL in request.META (runserver copies the environment into it),
connection URLs among the settings, and, with DEBUG on, the connection parameters in the database
driver's frames (`conn_params`, `conninfo`, `dsn`) and the JWT key in electric/tokens.py's.

This filter (settings.DEFAULT_EXCEPTION_REPORTER_FILTER) hides, besides, in settings, request.META
and every frame's variables, DEBUG on or off:

- an entry named like a connection string (URL, URI, DSN, conninfo) whose value carries a password;
- the password inside any other value that holds a `scheme://user:password@host` URL or a
  libpq-style `password=...`: the rest stays, to debug with;
- variables named like key material or a secret (`key`, `signing_key`, `password`, `token`, ...),
  and such entries of the dictionaries, lists and tuples variables hold.
"""

import re

from django.utils.datastructures import MultiValueDict
from django.views.debug import SafeExceptionReporterFilter

CONNECTION_NAMES = re.compile(r"URL|URI|DSN|CONNINFO", re.IGNORECASE)
# A URL's password: between the user and the last "@" of its authority (which cannot hold "/",
# "?" or "#"; a password with an unescaped "@" is hidden whole).
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/?#@:]*:)[^\s/?#]*(@)", re.IGNORECASE)
# libpq's keyword form (`host=db password=x`, quoted or not) and a URL's ?password=x.
KEYWORD_PASSWORD = re.compile(
    r"((?:^|[\s&?;])\w*password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s&;]*)", re.IGNORECASE
)
# A word of a variable's name (split at "_") that makes it secret: `key`, `signing_key`, `KEY`,
# `api_token`, `passwd`, `HTTP_AUTHORIZATION`...
SECRET_WORD = re.compile(
    r"(?:api|auth|authorization|\w*key|\w*token|\w*secret|\w*password|passwd|passphrase|pwd|pass"
    r"|signature|credentials?|cookie)s?",
    re.IGNORECASE,
)
# Deeper than this inside a variable's containers, values are hidden rather than inspected.
MAX_DEPTH = 8


def redact_passwords(text):
    """`text` with the password of every URL and `password=` in it replaced by stars."""
    stars = SecretHidingFilter.cleansed_substitute
    text = URL_PASSWORD.sub(rf"\g<1>{stars}\g<2>", text)
    return KEYWORD_PASSWORD.sub(rf"\g<1>{stars}", text)


def is_secret_name(name):
    """Whether a variable (or a dictionary entry inside one) is named like a secret."""
    return isinstance(name, str) and any(SECRET_WORD.fullmatch(word) for word in name.split("_"))


class SecretHidingFilter(SafeExceptionReporterFilter):
    """Django's filter, plus connection strings' passwords and key material (see the module)."""

    def cleanse_setting(self, key, value):
        # Settings, request.META and cookies: Django's rules by name, then the text's passwords.
        if isinstance(value, str | bytes) and not self._hidden_setting(key):
            return self._cleanse_text(key, value)
        return super().cleanse_setting(key, value)

    def _hidden_setting(self, key):
        try:
            return bool(self.hidden_settings.search(key))
        except TypeError:
            return False

    def _cleanse_text(self, name, value):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        redacted = redact_passwords(text)
        if redacted == text:
            return value
        if isinstance(name, str) and CONNECTION_NAMES.search(name):
            return self.cleansed_substitute
        return redacted

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self._cleanse_variable(name, value)) for name, value in variables]

    def _cleanse_variable(self, name, value, depth=0):
        if is_secret_name(name) or depth > MAX_DEPTH:
            return self.cleansed_substitute
        if isinstance(value, str | bytes):
            return self._cleanse_text(name, value)
        # Containers' entries alike. A request's QueryDict or MultiValueDict keeps its type (and
        # Django's handling of sensitive_post_parameters).
        if isinstance(value, dict) and not isinstance(value, MultiValueDict):
            return {
                key: self._cleanse_variable(key, item, depth + 1) for key, item in value.items()
            }
        if type(value) in (list, tuple):
            return type(value)(self._cleanse_variable("", item, depth + 1) for item in value)
        return value
