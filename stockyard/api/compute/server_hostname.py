"""The ``hostname`` of server create, update and rebuild (2.90; an FQDN from 2.94).

Before 2.90 the hostname is derived from the display name (``sanitize_hostname``) and a
``hostname`` in the body is refused like any unknown property. From 2.90 it may be
given: one RFC 1123 label (letters, digits and hyphens, not starting or ending with a
hyphen, 2 to 63 characters); from 2.94 also a fully qualified name of such labels
joined by dots (at most 255 characters, a final dot allowed). A multi-create cannot
give one hostname to several servers (400, as Nova). The hostname reaches the guest
through the config drive's metadata on the next spawn or rebuild; it is shown to every
user from 2.90 (``OS-EXT-SRV-ATTR:hostname``, admin only before).
"""

from __future__ import annotations

import re

from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion

_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}$")
_FQDN = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")


def requested_hostname(value: object, version: APIVersion, where: str = "server") -> str | None:
    """The checked ``hostname`` of a request body, or None when it gives none."""
    if value is None:
        return None
    if not version.at_least("2.90"):
        raise APIError(
            400,
            f"Invalid input for field/attribute {where}. Value: hostname. "
            "Additional properties are not allowed ('hostname' was unexpected)",
        )
    fqdn = version.at_least("2.94")
    pattern, low, high = (_FQDN, 1, 255) if fqdn else (_HOSTNAME, 2, 63)
    if not isinstance(value, str) or not low <= len(value) <= high or not pattern.match(value):
        what = "a fully qualified domain name" if fqdn else "a hostname (one DNS label)"
        raise APIError(
            400,
            f"Invalid input for field/attribute hostname. Value: {value!r}. "
            f"It must be {what} of {low} to {high} letters, digits, hyphens"
            f"{' and dots' if fqdn else ''}, not starting or ending with a hyphen.",
        )
    return value
