"""Reading alpaca-py's `APIError` for a message: Alpaca documents a JSON body with a
`message`, but gateways answer HTML and the SDK's own `.message` raises on those."""

from __future__ import annotations

import json

from alpaca.common.exceptions import APIError


def api_message(error: APIError) -> str:
    """The error's message, whether or not its body is the JSON Alpaca documents."""
    text = str(error)
    try:
        body = json.loads(text)
    except ValueError:
        return short(text)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return short(text)


def short(value: object, limit: int = 160) -> str:
    """`value` as one line of at most `limit` characters (a page of HTML stays out of
    the operator's messages)."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "…"
