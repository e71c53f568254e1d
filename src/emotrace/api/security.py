"""Optional API keys: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.

When ``EMOTRACE_API_KEYS`` is empty every endpoint is open; when it holds keys, every endpoint
but ``/health`` (and the documentation pages) answers 401 without one of them. Keys are compared
in constant time so a wrong key's timing says nothing about the right one.

A valid key also names its *owner* (:func:`owner_of`): jobs are stored with it, and each key
sees only its own jobs (and those created while keys were off).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

# auto_error=False: the check below decides, so a missing key is a 401 only when keys are set.
_bearer = HTTPBearer(auto_error=False, description="an API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """Whether ``given`` is one of ``keys`` (constant-time per key)."""
    raw = given.encode()
    return any(hmac.compare_digest(raw, k.encode()) for k in keys)


def owner_of(key: str) -> str:
    """The tag a key's jobs are stored under: one-way, so the database holds no key."""
    return hashlib.sha256(b"emotrace-owner\0" + key.encode()).hexdigest()[:32]


async def require_api_key(request: Request,
                          bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
                          header: str | None = Security(_header)) -> str | None:
    """FastAPI dependency: pass when keys are off or a valid key is given, else 401.

    Returns:
        the key's owner tag (:func:`owner_of`), or None when keys are off.
    """
    keys = request.app.state.service.settings.api_keys
    if not keys:
        return None
    for given in (header, bearer.credentials if bearer else None):
        if given and key_matches(given, keys):
            return owner_of(given)
    raise HTTPException(401, "missing or invalid API key; send 'Authorization: Bearer KEY' "
                             "or 'X-API-Key: KEY'", headers={"WWW-Authenticate": "Bearer"})
