"""Handlers: the project's own code, called with each transaction inside the store's database
transaction, so that what they write is stored exactly once, together with the events.

Configured as dotted paths (CHANGEFEED_HANDLERS, or --handler), called in that order.
"""

import re
from collections.abc import Callable

from django.utils.module_loading import import_string

from changefeed.transactions import Transaction

Handler = Callable[[Transaction], None]


class HandlerError(Exception):
    """A handler raised: the batch was rolled back and nothing acknowledged."""


DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def load_handler(dotted_path: str) -> Handler:
    """Import a handler, e.g. "myapp.handlers.on_transaction". Raises ImportError."""
    if not DOTTED_PATH.fullmatch(dotted_path):
        raise ImportError("not a dotted path to a function, e.g. myapp.handlers.on_transaction")
    handler = import_string(dotted_path)
    if not callable(handler):
        raise ImportError(f"{dotted_path} is not callable")
    return handler


def handler_name(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"
