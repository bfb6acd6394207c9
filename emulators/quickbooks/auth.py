"""Intuit OAuth 2 as the QBO emulator serves it: the registered app, grants, rotating refresh tokens, access tokens.

Tokens are opaque strings derived from a seed and a counter, so a sandbox started with the same seed hands out the
same first refresh token. Lifetimes run on the emulator clock (tests age tokens by advancing it).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 8726400  # rolling 101 days, as Intuit's samples report
HARD_EXPIRY_SECONDS = 5 * 365 * 86400


class OAuthError(Exception):
    """A token-endpoint failure: `{"error": ..., "error_description": ...}` with `status`."""

    def __init__(self, error: str, description: str | None = None, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


@dataclass
class Grant:
    """One user's authorisation of the app for the realm: the current refresh token and its history."""

    grant_id: int
    realm_id: str
    refresh_token: str
    refresh_issued_at: datetime
    refresh_expires_at: datetime
    hard_expires_at: datetime
    retired: dict[str, datetime] = field(default_factory=dict)  # old refresh token -> valid until
    revoked: bool = False


@dataclass
class AccessToken:
    grant_id: int
    expires_at: datetime


@dataclass
class OAuthSettings:
    rotation_seconds: float = 0.0  # 0: a new refresh token on every refresh
    # How long a replaced refresh token still works: 24 h, as Intuit's OAuth guide states ("previous refresh tokens
    # expire 24 hours after you receive a new one"), so a client killed before it stored the new token can recover.
    grace_seconds: float = 86400.0
    access_token_seconds: float = ACCESS_TOKEN_SECONDS


class OAuthServer:
    def __init__(self, client_id: str, client_secret: str, realm_id: str, seed: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.realm_id = realm_id
        self.seed = seed
        self.settings = OAuthSettings()
        self.redirect_uris: set[str] = set()  # empty: any redirect_uri is accepted (sandbox app)
        self._counter = 0
        self._lock = threading.Lock()
        self.grants: dict[int, Grant] = {}
        self.refresh_index: dict[str, int] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.codes: dict[str, tuple[str, str]] = {}  # authorization code -> (redirect_uri, realm)

    # ---- token material ----------------------------------------------------------------------------------

    def _material(self, kind: str, length: int) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{self.seed}:{kind}:{self._counter}".encode()).digest()
        text = base64.b64encode(digest + hashlib.sha256(digest).digest()).decode().replace("+", "x").replace("/", "Y")
        return text.rstrip("=")[:length]

    def _new_refresh_token(self) -> str:
        # Intuit refresh tokens look like AB11<epoch-ish digits><letters>, 50 characters.
        return "AB11" + self._material("refresh", 46)

    def _new_access_token(self) -> str:
        return "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.." + self._material("access", 64)

    def issue_grant(self, now: datetime) -> Grant:
        with self._lock:
            grant = Grant(
                grant_id=len(self.grants) + 1,
                realm_id=self.realm_id,
                refresh_token=self._new_refresh_token(),
                refresh_issued_at=now,
                refresh_expires_at=now + timedelta(seconds=REFRESH_TOKEN_SECONDS),
                hard_expires_at=now + timedelta(seconds=HARD_EXPIRY_SECONDS),
            )
            self.grants[grant.grant_id] = grant
            self.refresh_index[grant.refresh_token] = grant.grant_id
            return grant

    # ---- client authentication -----------------------------------------------------------------------------

    def check_client(self, authorization: str | None) -> None:
        if not authorization or not authorization.lower().startswith("basic "):
            raise OAuthError("invalid_client", status=401)
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", status=401) from None
        client_id, _, secret = decoded.partition(":")
        if client_id != self.client_id or secret != self.client_secret:
            raise OAuthError("invalid_client", status=401)

    # ---- grants ----------------------------------------------------------------------------------------------

    def authorize(self, redirect_uri: str) -> str:
        """The code the authorization endpoint hands back (the sandbox user consents at once)."""
        with self._lock:
            code = "AB11" + self._material("code", 36)
            self.codes[code] = (redirect_uri, self.realm_id)
            return code

    def exchange_code(self, code: str, redirect_uri: str, now: datetime, hard_expiry: bool) -> dict[str, object]:
        with self._lock:
            issued = self.codes.pop(code, None)
        if issued is None or issued[0] != redirect_uri:
            raise OAuthError("invalid_grant")
        grant = self.issue_grant(now)
        return self._token_response(grant, now, hard_expiry)

    def refresh(self, refresh_token: str, now: datetime, hard_expiry: bool) -> dict[str, object]:
        with self._lock:
            grant_id = self.refresh_index.get(refresh_token)
            grant = self.grants.get(grant_id) if grant_id is not None else None
            if grant is None or grant.revoked:
                raise OAuthError("invalid_grant", "Incorrect or invalid refresh token")
            if refresh_token != grant.refresh_token:
                valid_until = grant.retired.get(refresh_token)
                if valid_until is None or now >= valid_until:
                    raise OAuthError("invalid_grant", "Incorrect or invalid refresh token")
            elif now >= grant.refresh_expires_at or now >= grant.hard_expires_at:
                raise OAuthError("invalid_grant", "Token has been expired or revoked.")
            if (now - grant.refresh_issued_at).total_seconds() >= self.settings.rotation_seconds:
                old = grant.refresh_token
                grant.retired[old] = now + timedelta(seconds=self.settings.grace_seconds)
                grant.refresh_token = self._new_refresh_token()
                grant.refresh_issued_at = now
                self.refresh_index[grant.refresh_token] = grant.grant_id
            grant.refresh_expires_at = grant.refresh_issued_at + timedelta(seconds=REFRESH_TOKEN_SECONDS)
        return self._token_response(grant, now, hard_expiry)

    def _token_response(self, grant: Grant, now: datetime, hard_expiry: bool) -> dict[str, object]:
        with self._lock:
            access = self._new_access_token()
            expires_in = int(self.settings.access_token_seconds)
            self.access_tokens[access] = AccessToken(grant.grant_id, now + timedelta(seconds=expires_in))
        body: dict[str, object] = {
            "token_type": "bearer",
            "expires_in": expires_in,
            "refresh_token": grant.refresh_token,
            "x_refresh_token_expires_in": max(0, int((grant.refresh_expires_at - now).total_seconds())),
            "access_token": access,
        }
        if hard_expiry:
            body["x_refresh_token_hard_expires_in"] = max(0, int((grant.hard_expires_at - now).total_seconds()))
        return body

    def revoke(self, token: str) -> None:
        """Revoking a refresh or access token ends the whole grant (every token issued under it)."""
        with self._lock:
            grant_id = self.refresh_index.get(token)
            if grant_id is None and token in self.access_tokens:
                grant_id = self.access_tokens[token].grant_id
            if grant_id is None:
                return
            self.grants[grant_id].revoked = True
            for access in [t for t, info in self.access_tokens.items() if info.grant_id == grant_id]:
                del self.access_tokens[access]

    # ---- access tokens ---------------------------------------------------------------------------------------

    def check_access(self, authorization: str | None, now: datetime) -> str | None:
        """None when the bearer token is good; otherwise the 401 `detail` QBO gives."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return "Authorization header missing or malformed"
        token = authorization[7:].strip()
        info = self.access_tokens.get(token)
        if info is None:
            if len(token) < 20:
                return "Malformed bearer token: too short or too long"
            return f"Token expired: {token}"
        grant = self.grants.get(info.grant_id)
        if grant is None or grant.revoked or now >= info.expires_at:
            return f"Token expired: {token}"
        return None

    def expire_access_tokens(self, now: datetime) -> None:
        with self._lock:
            for info in self.access_tokens.values():
                info.expires_at = min(info.expires_at, now)
