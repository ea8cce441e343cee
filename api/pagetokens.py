"""Opaque page tokens: a page's sort key, signed (with SECRET_KEY) together with what it pages through, so that a
client can neither forge one nor use it on another job or in another order."""

from __future__ import annotations

from typing import Any

from django.core import signing

_SALT = "api.page-token"


class PageTokenError(ValueError):
    """A page token that this server did not write for this listing."""


def page_token_encode(*, listing: str, scope: dict[str, Any], key: Any) -> str:
    return signing.dumps({"l": listing, "s": scope, "k": key}, salt=_SALT, compress=True)


def page_token_decode(token: str, *, listing: str, scope: dict[str, Any]) -> Any:
    """The key a token holds. Raises PageTokenError for a token that is malformed, tampered with, or written for
    another listing or scope (another job, another order)."""
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature as exc:
        raise PageTokenError("invalid page token") from exc
    if not isinstance(payload, dict) or payload.get("l") != listing or payload.get("s") != scope:
        raise PageTokenError("the page token belongs to another listing or order")
    return payload.get("k")
