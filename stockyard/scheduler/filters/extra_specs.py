"""Nova's extra-spec operator matching (``nova/scheduler/filters/extra_specs_ops.py``).

A requirement is either a plain string (exact match) or ``"<op> operand"``:
``=`` (numeric >=), ``==``, ``!=``, ``>=``, ``<=`` (numeric), ``s==``, ``s!=``,
``s<``, ``s<=``, ``s>``, ``s>=`` (string), ``<in>`` (substring), ``<all-in>``
(every word present) and ``<or>`` (``"<or> a <or> b"``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable

_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
}
_STRING: dict[str, Callable[[str, str], bool]] = {
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
}
OPERATORS = frozenset({*_NUMERIC, *_STRING, "<in>", "<all-in>", "<or>"})


def is_plain(requirement: str) -> bool:
    """True if ``requirement`` is an exact-match string, not an operator expression."""
    words = requirement.split()
    return not words or words[0] not in OPERATORS


def match(value: str, requirement: str) -> bool:
    """True if the host-side ``value`` satisfies ``requirement``.

    Malformed numeric comparisons do not match (Nova logs and rejects them too).
    """
    words = requirement.split()
    if not words or words[0] not in OPERATORS:
        return value == requirement
    op, args = words[0], words[1:]
    if op == "<or>":
        # "<or> a <or> b": every other word is an alternative.
        return value in args[::2]
    if not args:
        return False
    if op == "<in>":
        return args[0] in value
    if op == "<all-in>":
        return all(arg in value for arg in args)
    if op in _STRING:
        return _STRING[op](value, args[0])
    try:
        return _NUMERIC[op](float(value), float(args[0]))
    except ValueError:
        return False
