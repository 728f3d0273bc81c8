"""Building RediSearch queries from user input. User text never reaches a query unescaped.

``tag(value)`` and ``text(value)`` return query fragments that match the value literally: every
character that is not a letter, a digit or ``_`` is backslash-escaped, so ``@jobId:{*} -x | "y"``
becomes a search for those words, never query syntax.
"""
from __future__ import annotations

import re
from typing import Iterable

_UNSAFE = re.compile(r"([^\w])", re.UNICODE)
_WORD = re.compile(r"\w+", re.UNICODE)


def escape(value: str) -> str:
    """Return ``value`` with every non-word character backslash-escaped (spaces included)."""
    return _UNSAFE.sub(r"\\\1", value)


def tag(field: str, values: str | Iterable[str]) -> str:
    """``@field:{a | b}`` matching any of the values exactly."""
    if isinstance(values, str):
        values = [values]
    parts = [escape(v) for v in values if v != ""]
    if not parts:
        raise ValueError("tag() needs at least one value")
    return f"@{field}:{{{' | '.join(parts)}}}"


def numeric(field: str, low: float | int | None, high: float | int | None) -> str | None:
    """``@field:[low high]`` with open ends as -inf/+inf; None when both ends are open."""
    if low is None and high is None:
        return None
    lo = "-inf" if low is None else str(int(low))
    hi = "+inf" if high is None else str(int(high))
    return f"@{field}:[{lo} {hi}]"


def text(value: str, fields: Iterable[str] | None = None) -> str | None:
    """A full-text clause for the words in ``value`` (all must match, prefix match on the last).

    Punctuation separates words, as RediSearch's tokenizer does, and every word is escaped.
    Returns None when the value holds no word.
    """
    words = _WORD.findall(value)
    if not words:
        return None
    escaped = [escape(w) for w in words[:16]]
    if len(words[-1]) >= 2 and len(words) <= 16:
        escaped[-1] = escaped[-1] + "*"
    body = " ".join(escaped)
    if fields:
        return f"@{'|'.join(fields)}:({body})"
    return f"({body})"


def join(clauses: Iterable[str | None]) -> str:
    """AND of the non-empty clauses, or ``*`` when there are none."""
    parts = [c for c in clauses if c]
    return " ".join(parts) if parts else "*"
