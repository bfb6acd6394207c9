"""ASI's OAuth 2 token endpoint and bearer-token checks, with the per-token rate limit of our ESP+ design.

The ESP+ web app logs in with `POST {auth}/oauth2/token`, the app's `Authorization: Basic base64(id:secret)` and a
password grant (asi_number, username, password); API calls then carry `Authorization: Bearer <access_token>`.
Client credentials (acting as the tenant's integration user) and refresh grants are our additions.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from emulators.core.clock import EmulatorClock
from emulators.esp.errors import EspError, OAuthError

CLIENT_ID = "esp-sandbox-client"
CLIENT_SECRET = "esp-sandbox-secret"
USER_PASSWORD = "esp-sandbox-password"  # every seeded user's password for the password grant
DENIED = "Authorization has been denied for this request."


@dataclass
class RateLimits:
    """Requests allowed per token per second and per minute (None: no limit)."""

    # ASI publishes no limits; these defaults keep a fast 100k-record extract unthrottled while still answering 429
    # to a runaway client. The research note's stricter proposal (10/s, 300/min) is one PUT /_emulator/limits away.
    per_second: int | None = 200
    per_minute: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"RequestsPerSecond": self.per_second, "RequestsPerMinute": self.per_minute}


@dataclass
class AccessToken:
    user_id: int
    client_id: str
    expires_at: float  # epoch seconds on the emulator clock
    second_window: int = -1
    second_count: int = 0
    minute_window: int = -1
    minute_count: int = 0


@dataclass
class TokenIssuer:
    clock: EmulatorClock
    token_ttl_seconds: int = 3600
    limits: RateLimits = field(default_factory=RateLimits)
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, tuple[int, str]] = field(default_factory=dict)

    def reset(self) -> None:
        self.access_tokens.clear()
        self.refresh_tokens.clear()

    def expire_all(self) -> None:
        for token in self.access_tokens.values():
            token.expires_at = 0.0

    def authenticate_client(self, authorization: str | None, form: dict[str, str]) -> str:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError(401, "invalid_client", "The Basic authorization header is malformed.") from None
            client_id, _, secret = decoded.partition(":")
        if not client_id:
            raise OAuthError(401, "invalid_client", "Client authentication is required.")
        if self.clients.get(client_id) != secret:
            raise OAuthError(401, "invalid_client", "The client id or secret is incorrect.")
        return client_id

    def issue(self, client_id: str, user_id: int, with_refresh: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        now = self.clock.now().timestamp()
        self.access_tokens[access] = AccessToken(user_id, client_id, now + self.token_ttl_seconds)
        reply: dict[str, Any] = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": str(self.token_ttl_seconds),  # typed as a string in the ESP+ web app's LoginResponse
        }
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = (user_id, client_id)
            reply["refresh_token"] = refresh
        return reply

    def redeem_refresh_token(self, client_id: str, refresh_token: str) -> int:
        owner = self.refresh_tokens.pop(refresh_token, None)  # rotated: each refresh token works once
        if owner is None or owner[1] != client_id:
            raise OAuthError(400, "invalid_grant", "The refresh token is invalid, expired or already used.")
        return owner[0]

    def check_bearer(self, authorization: str | None) -> tuple[str, AccessToken]:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise EspError(401, DENIED, headers={"WWW-Authenticate": "Bearer"})
        value = authorization[7:].strip()
        token = self.access_tokens.get(value)
        if token is None or token.expires_at <= self.clock.now().timestamp():
            raise EspError(401, DENIED, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        self.count_request(token)
        return value, token

    def count_request(self, token: AccessToken) -> None:
        now = self.clock.now().timestamp()
        second, minute = int(now), int(now // 60)
        if token.second_window != second:
            token.second_window, token.second_count = second, 0
        if token.minute_window != minute:
            token.minute_window, token.minute_count = minute, 0
        limits = self.limits
        if limits.per_second is not None and token.second_count >= limits.per_second:
            raise throttled(math.ceil(second + 1 - now))
        if limits.per_minute is not None and token.minute_count >= limits.per_minute:
            raise throttled(math.ceil((minute + 1) * 60 - now))
        token.second_count += 1
        token.minute_count += 1


def throttled(retry_after: float) -> EspError:
    return EspError(429, "Too many requests", headers={"Retry-After": str(max(1, math.ceil(retry_after)))})
