"""Logins and access tokens: OAuth 2 token endpoint (client credentials, password) and the SOAP `login` call."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape, unescape

from emulators.core.clock import EmulatorClock
from emulators.world import salesforce_id

ORG_ID = salesforce_id("00D", 1)
CLIENT_ID = "3MVG9CrosswalkSandbox.ConnectedApp.ClientCredentials.Emulator0000000000000000000000000"
CLIENT_SECRET = "CROSSWALKSANDBOXSECRET0000000000000000000000000000000000000000000000"
USERNAME = "integration@crosswalk-sandbox.example"
PASSWORD = "sandbox-password"
SECURITY_TOKEN = "SANDBOXSECURITYTOKEN00"
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "._"


@dataclass
class OAuthFailure(Exception):
    status: int
    error: str
    description: str

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class SessionRegistry:
    """Live access tokens and when each was last used; a token idle longer than `timeout` is expired."""

    def __init__(self, clock: EmulatorClock, timeout: timedelta = timedelta(hours=2)) -> None:
        self.clock = clock
        self.timeout = timeout
        self.last_used: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = f"{ORG_ID[:15]}!AQ" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(96))
        with self._lock:
            self.last_used[token] = self.clock.now()
        return token

    def validate(self, token: str | None) -> bool:
        if not token:
            return False
        now = self.clock.now()
        with self._lock:
            used = self.last_used.get(token)
            if used is None:
                return False
            if now - used > self.timeout:
                del self.last_used[token]
                return False
            self.last_used[token] = now
            return True

    def expire_all(self) -> None:
        with self._lock:
            self.last_used.clear()


def client_from_request(form: dict[str, str], authorization: str | None) -> tuple[str | None, str | None]:
    """client_id/client_secret from the form body or from an HTTP Basic header (simple-salesforce sends Basic)."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except (ValueError, UnicodeDecodeError):
            return None, None
        client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret
    return form.get("client_id"), form.get("client_secret")


def token_grant(form: dict[str, str], authorization: str | None, sessions: SessionRegistry, instance_url: str,
                user_id: str) -> dict[str, str]:
    """The JSON of a successful /services/oauth2/token reply, or OAuthFailure."""
    grant_type = form.get("grant_type")
    if grant_type not in ("client_credentials", "password"):
        raise OAuthFailure(400, "unsupported_grant_type", "grant type not supported")
    client_id, client_secret = client_from_request(form, authorization)
    if client_id != CLIENT_ID:
        raise OAuthFailure(400, "invalid_client_id", "client identifier invalid")
    if not client_secret or not hmac.compare_digest(client_secret, CLIENT_SECRET):
        raise OAuthFailure(400, "invalid_client", "invalid client credentials")
    if grant_type == "password" and (
        form.get("username") != USERNAME or form.get("password") not in (PASSWORD, PASSWORD + SECURITY_TOKEN)
    ):
        raise OAuthFailure(400, "invalid_grant", "authentication failure")
    token = sessions.issue()
    issued_at = str(int(sessions.clock.now().timestamp() * 1000))
    identity = f"{instance_url}/id/{ORG_ID}/{user_id}"
    signature = base64.b64encode(
        hmac.new(CLIENT_SECRET.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    ).decode()
    reply = {"access_token": token, "signature": signature}
    if grant_type == "client_credentials":
        reply["scope"] = "api"
    reply.update({"instance_url": instance_url, "id": identity, "token_type": "Bearer", "issued_at": issued_at})
    return reply


def _element(xml: str, name: str) -> str | None:
    match = re.search(rf"<(?:[\w.-]+:)?{name}(?:\s[^>]*)?>(.*?)</(?:[\w.-]+:)?{name}>", xml, re.DOTALL)
    return unescape(match.group(1)) if match else None


def soap_login(body: str, sessions: SessionRegistry, instance_url: str, version: str, user_id: str) -> tuple[int, str]:
    """(status, XML) of a partner SOAP `login` call: the session, or the INVALID_LOGIN fault."""
    username, password = _element(body, "username"), _element(body, "password")
    if username != USERNAME or password not in (PASSWORD + SECURITY_TOKEN, PASSWORD):
        message = "Invalid username, password, security token; or user locked out."
        return 500, (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: {message}</faultstring><detail>"
            '<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>'
            f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
            "</soapenv:Body></soapenv:Envelope>"
        )
    token = sessions.issue()
    return 200, (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        'envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{instance_url}/services/Soap/m/{version}/{ORG_ID[:15]}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
        f"<serverUrl>{instance_url}/services/Soap/u/{version}/{ORG_ID[:15]}</serverUrl>"
        f"<sessionId>{escape(token)}</sessionId><userId>{user_id}</userId>"
        f"<userInfo><organizationId>{ORG_ID}</organizationId><organizationName>Crosswalk Sandbox</organizationName>"
        f"<userEmail>{USERNAME}</userEmail><userFullName>Crosswalk Integration</userFullName><userId>{user_id}</userId>"
        f"<userName>{USERNAME}</userName></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
