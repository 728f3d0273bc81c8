"""The optional explanation of a failed run by an OpenAI-compatible chat API.

Off unless ``CHRONOS_LLM_URL`` and ``CHRONOS_LLM_API_KEY`` are both set. Only the error type, message,
stack and code snippet are sent (each truncated), never logs or metadata. The URL passes the outbound
guard (``CHRONOS_OUTBOUND_ALLOW``), redirects are not followed, and the call has a timeout. Answers are
cached per execution for a week.

Exceptions::

    LlmError               the explanation could not be had
    ├── LlmDisabled        not configured
    ├── LlmRefused         the URL is refused by the outbound guard
    ├── NothingToExplain   the execution carries no error information
    └── LlmUpstreamError   the API could not be reached, answered an error or something unreadable
"""
from __future__ import annotations

from typing import Any

import orjson
import requests
from redis import Redis

from chronos import keys
from chronos.config import Settings
from chronos.outbound import OutboundRefused, check_url
from chronos.timeutil import now_ms, to_iso

TIMEOUT_S = (5.0, 60.0)  # connect, read
CACHE_TTL_S = 7 * 86400
LIMITS = {"errorType": 300, "errorMessage": 2000, "errorStack": 6000, "codeSnippet": 4000}
SYSTEM_PROMPT = (
    "You are a senior site reliability engineer. A scheduled job failed. From the error, stack trace and code "
    "below, explain in plain words the most likely cause, then give concrete steps to fix it and say whether "
    "retrying is likely to help. Be concise: at most 200 words, no preamble."
)


class LlmError(Exception):
    """The explanation could not be had."""


class LlmDisabled(LlmError):
    """CHRONOS_LLM_URL or CHRONOS_LLM_API_KEY is not set."""


class LlmRefused(LlmError):
    """The outbound guard refuses CHRONOS_LLM_URL."""


class NothingToExplain(LlmError):
    """The execution has no error type, message or stack."""


class LlmUpstreamError(LlmError):
    """The chat API could not be reached or did not answer with a completion."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def enabled(settings: Settings) -> bool:
    return bool(settings.chronos_llm_url and settings.chronos_llm_api_key)


def endpoint(settings: Settings) -> str:
    base = settings.chronos_llm_url.rstrip("/")
    return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def build_messages(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The chat messages for one execution: what is sent, and nothing more."""
    parts = [f"Job: {doc.get('jobName') or doc.get('jobId')}", f"Status: {doc.get('status')}"]
    if doc.get("exitCode") is not None:
        parts.append(f"Exit code: {doc['exitCode']}")
    for field, title in (("errorType", "Error type"), ("errorMessage", "Error message"),
                         ("errorStack", "Stack trace"), ("codeSnippet", "Code")):
        value = doc.get(field)
        if isinstance(value, str) and value.strip():
            text = value[: LIMITS[field]] if field in ("errorType", "errorMessage") else _tail(value, LIMITS[field])
            lang = (doc.get("codeLanguage") or "") if field == "codeSnippet" else ""
            parts.append(f"{title}:\n```{lang}\n{text}\n```" if field in ("errorStack", "codeSnippet")
                         else f"{title}: {text}")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


def _call(settings: Settings, messages: list[dict[str, str]], timeout: Any) -> dict[str, Any]:
    url = endpoint(settings)
    try:
        check_url(url, settings.chronos_outbound_allow)
    except OutboundRefused as exc:
        raise LlmRefused(f"CHRONOS_LLM_URL is refused: {exc}") from None
    body = {"model": settings.chronos_llm_model, "messages": messages, "temperature": 0.2, "max_tokens": 600}
    try:
        resp = requests.post(url, json=body, timeout=timeout, allow_redirects=False,
                             headers={"Authorization": f"Bearer {settings.chronos_llm_api_key}"})
    except requests.Timeout:
        raise LlmUpstreamError("the LLM API did not answer in time") from None
    except requests.RequestException as exc:
        raise LlmUpstreamError(f"the LLM API could not be reached: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise LlmUpstreamError(f"the LLM API answered HTTP {resp.status_code}", resp.status_code)
    try:
        data = resp.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LlmUpstreamError("the LLM API answered something that is not a chat completion") from None
    if not isinstance(content, str) or not content.strip():
        raise LlmUpstreamError("the LLM API answered an empty completion")
    return {"text": content.strip(), "model": data.get("model") or settings.chronos_llm_model,
            "usage": data.get("usage")}


def explain(r: Redis, settings: Settings, doc: dict[str, Any], *, refresh: bool = False,
            timeout: Any = TIMEOUT_S) -> dict[str, Any]:
    """An explanation of the execution ``doc`` (cached unless ``refresh``); raises an LlmError."""
    if not enabled(settings):
        raise LlmDisabled("explanations are off: set CHRONOS_LLM_URL and CHRONOS_LLM_API_KEY")
    if not any(isinstance(doc.get(f), str) and doc[f].strip() for f in ("errorType", "errorMessage", "errorStack")):
        raise NothingToExplain("this execution carries no error type, message or stack to explain")
    key = keys.llm_explanation(doc["owner"], doc["execId"])
    if not refresh:
        cached = r.get(key)
        if cached:
            return {**orjson.loads(cached), "cached": True}
    answer = _call(settings, build_messages(doc), timeout)
    out = {"execId": doc["execId"], "explanation": answer["text"], "model": answer["model"],
           "usage": answer["usage"], "createdAt": to_iso(now_ms())}
    r.set(key, orjson.dumps(out), ex=CACHE_TTL_S)
    return {**out, "cached": False}
