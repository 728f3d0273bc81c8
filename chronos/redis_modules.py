"""Which Redis modules the product needs, and how to tell whether a server has them (MODULE LIST first,
then probing a command of each, for Redis 8 where they are built in or managed Redis without MODULE LIST)."""
from __future__ import annotations

import uuid
from typing import Any

import redis

#: Module names as reported by ``MODULE LIST`` that the product requires.
REQUIRED_MODULES: tuple[str, ...] = ("ReJSON", "search", "timeseries")

# Other names a module may be reported under (compared case-insensitively).
_MODULE_ALIASES: dict[str, tuple[str, ...]] = {
    "ReJSON": ("rejson", "json"),
    "search": ("search", "ft"),
    "timeseries": ("timeseries",),
}

# Probe commands used when MODULE LIST does not list a module (Redis 8, where the modules are built in,
# or a managed Redis where MODULE LIST is not allowed).
_MODULE_PROBES: dict[str, tuple[str, ...]] = {
    "ReJSON": ("JSON.GET",),
    "search": ("FT._LIST",),
    "timeseries": ("TS.INFO",),
}


def _decode(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _module_names(reply: Any) -> set[str]:
    """Lower-cased module names from a ``MODULE LIST`` reply (dict or flat-pair form)."""
    names: set[str] = set()
    if not isinstance(reply, (list, tuple)):
        return names
    for entry in reply:
        name: Any = None
        if isinstance(entry, dict):
            for key, value in entry.items():
                if _decode(key) == "name":
                    name = value
                    break
        elif isinstance(entry, (list, tuple)):
            items = list(entry)
            for i in range(0, len(items) - 1, 2):
                if _decode(items[i]) == "name":
                    name = items[i + 1]
                    break
        if name is not None:
            names.add(str(_decode(name)).lower())
    return names


def _is_unknown_command(exc: redis.exceptions.ResponseError) -> bool:
    text = str(exc).lower()
    return "unknown command" in text or "unknown subcommand" in text


def check_modules(client: redis.Redis) -> list[str]:
    """Return the required modules that *client*'s server lacks (empty list = all present).

    Names are those of :data:`REQUIRED_MODULES` (``ReJSON``, ``search``,
    ``timeseries``), in that order. ``MODULE LIST`` is consulted first (compared
    case-insensitively); a module it does not list — or every module, if ``MODULE
    LIST`` is refused — is probed with ``JSON.GET`` / ``FT._LIST`` / ``TS.INFO`` on a
    key that does not exist, and counted missing only when the server answers with
    an "unknown command" error. Connection errors propagate.
    """
    try:
        listed = _module_names(client.execute_command("MODULE LIST"))
    except redis.exceptions.ResponseError:
        listed = set()
    missing: list[str] = []
    probe_key = f"chronos:module-probe:{uuid.uuid4().hex}"
    for module in REQUIRED_MODULES:
        if listed & set(_MODULE_ALIASES[module]):
            continue
        command = _MODULE_PROBES[module]
        args: tuple[str, ...] = command if command[0] == "FT._LIST" else (*command, probe_key)
        try:
            client.execute_command(*args)
        except redis.exceptions.ResponseError as exc:
            if _is_unknown_command(exc):
                missing.append(module)
    return missing
