"""Broker URLs made safe to print: one function every error, log line and repr goes through.

A URL's secrets are its user information (everything between ``://`` and the last ``@``) and a
``password`` (or Sentinel's ``sentinel_password``) query option. Redaction works on the raw text
rather than on ``urlsplit``'s parts, because the URLs that most need it are malformed ones: a
password holding ``#``, ``/`` or ``?`` makes ``urlsplit`` end the host early and put the rest
of the password in the path, query or fragment, where a parsed redaction would miss it.
"""

from __future__ import annotations

import re

#: What a secret is replaced with.
REDACTED = "***"

#: A ``password`` or ``sentinel_password`` query option (any case), up to the next option or
#: the fragment.
_PASSWORD_OPTION = re.compile(r"(?i)([?&;](?:sentinel_)?password=)[^&;#]*")


def redact_url(url: str) -> str:
    """``url`` with its user information and ``password`` query option replaced by ``***``.

    ``redis://alice:s3cret@host:6379/0`` becomes ``redis://***@host:6379/0``. The user name
    goes too: in a malformed URL it cannot be told apart from the password reliably. A URL
    without secrets comes back unchanged.

    Args:
        url: Any text meant as a URL, well-formed or not.
    """
    scheme_end = url.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    at = url.rfind("@")
    if at >= start:
        url = f"{url[:start]}{REDACTED}{url[at:]}"
    return _PASSWORD_OPTION.sub(rf"\g<1>{REDACTED}", url)


def is_redacted(url: str) -> bool:
    """Whether ``url`` is the output of :func:`redact_url` with a secret hidden, not a real URL.

    Connecting with one would fail authentication with a confusing error far from the cause.
    """
    hidden_option = any(
        match.group(0).endswith(f"={REDACTED}") for match in _PASSWORD_OPTION.finditer(url)
    )
    return f"://{REDACTED}@" in url or hidden_option
