"""Message ids: UUIDv7 strings (RFC 9562), time-ordered and strictly increasing per process.

``uuid6.uuid7()`` puts 48 bits of Unix milliseconds first and keeps ids strictly increasing
within the process, even within one millisecond, so messages sent in a loop keep their order
when ids are compared; its random bits come from the operating system's source, so a forked
child never repeats its parent's ids.
"""

from __future__ import annotations

import uuid6


def new_message_id() -> str:
    """A fresh UUIDv7 string, greater than every id this process made before."""
    return str(uuid6.uuid7())
