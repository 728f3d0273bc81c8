"""Shared pieces for reading RediSearch replies."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Page:
    total: int
    items: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0
    limit: int = 50
    next_cursor: str | None = None  # a token for the next page's query, where the store supports one

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + len(self.items)
        return nxt if nxt < self.total and self.items else None


def decode_docs(res: list[Any]) -> list[dict[str, Any]]:
    """Documents from an ``FT.SEARCH`` reply over a JSON index (RESP2, the whole ``$`` returned)."""
    docs = []
    for i in range(1, len(res), 2):
        fields = res[i + 1] if i + 1 < len(res) else None
        if not fields:
            continue
        pairs = dict(zip(fields[::2], fields[1::2]))
        raw = pairs.get(b"$") or pairs.get("$")
        if raw is None:
            continue
        value = orjson.loads(raw)
        docs.append(value[0] if isinstance(value, list) else value)
    return docs


def decode_rows(res: list[Any]) -> list[dict[str, str]]:
    """Rows from an ``FT.AGGREGATE`` reply as str→str dicts."""
    rows = []
    for row in res[1:]:
        it = [x.decode() if isinstance(x, bytes) else str(x) for x in row]
        rows.append(dict(zip(it[::2], it[1::2])))
    return rows
