"""Log sequence numbers (LSNs): positions in PostgreSQL's write-ahead log, as 64-bit integers."""

import re
from typing import Final

_LSN: Final = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def format_lsn(lsn: int) -> str:
    """Spell an LSN the way PostgreSQL does: two hexadecimal 32-bit halves, ``'16/B374D848'``."""
    if not 0 <= lsn < 1 << 64:
        raise ValueError(f"LSN {lsn} is not an unsigned 64-bit integer")
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """Read an LSN spelled ``'X/Y'``, as in ``pg_current_wal_lsn()`` output."""
    match = _LSN.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid LSN {text!r}: expected two hexadecimal numbers as 'X/Y'")
    return int(match[1], 16) << 32 | int(match[2], 16)


def format_lag(lag_bytes: int) -> str:
    """Spell a lag: the WAL the server has written past the slot's confirmed position.

    consume_changes's progress and `changefeed_slot status` both report it, spelled so.
    """
    if lag_bytes < 1_000_000:
        return f"{lag_bytes:,} bytes"
    return f"{lag_bytes / 1e6:,.1f} MB"
