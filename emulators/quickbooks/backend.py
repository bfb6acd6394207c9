"""QuickBooksBackend: the QBO emulator as an EmulatorBackend (model, OAuth, throttles, wire routes, admin hooks)."""

from __future__ import annotations

import gc
import hashlib
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from emulators.core.backend import EmulatorBackend, UnknownObjectError
from emulators.core.clock import EmulatorClock
from emulators.core.faults import Fault, FaultKind
from emulators.quickbooks import errors
from emulators.quickbooks.auth import OAuthServer
from emulators.quickbooks.catalog import KINDS
from emulators.quickbooks.generate import generate_world, load_reference_data
from emulators.quickbooks.limits import RealmThrottle, ThrottleSettings
from emulators.quickbooks.model import QboCompany
from emulators.quickbooks.stamps import CompanyTime
from emulators.quickbooks.wire import QboWire
from emulators.world import World

REALM_ID = "9341453050000001"
COMPANY_NAME = "Crosswalk Sandbox Company"
SETTINGS_OBJECT = "EmulatorSettings"  # pseudo-object of the admin seed/records API: limits, token policy, clock


def _credential(seed: str, kind: str, length: int) -> str:
    return hashlib.sha256(f"crosswalk-qbo:{seed}:{kind}".encode()).hexdigest()[:length]


class QuickBooksBackend(EmulatorBackend):
    name = "quickbooks"
    objects = (*KINDS, "CompanyInfo", "Preferences")
    requires_tls = True  # python-quickbooks' OAuth2Session refuses plain http

    def __init__(self, clock: EmulatorClock | None = None) -> None:
        # QBO stamps whole seconds; a 1 s clock keeps two writes in one second apart and ordered.
        super().__init__(clock or EmulatorClock(resolution=timedelta(seconds=1)))
        self.company_time = CompanyTime()
        self.throttle_settings = ThrottleSettings()
        self.throttle = RealmThrottle(self.throttle_settings)
        self.seed_text = "1"
        self.wire = QboWire(self)
        self.reset()

    # ---- state -------------------------------------------------------------------------------------------

    def reset(self) -> None:
        self._last_stamp_seconds = 0
        self.company = QboCompany(REALM_ID, self.next_stamp, self.today)
        self.client_id = "AB" + _credential(self.seed_text, "client", 48)
        self.client_secret = _credential(self.seed_text, "secret", 40)
        self.oauth = OAuthServer(self.client_id, self.client_secret, REALM_ID, self.seed_text)
        self.initial_refresh_token = self.oauth.issue_grant(self.clock.now()).refresh_token
        self.throttle.reset()
        self.wire.replays.clear()
        load_reference_data(self.company, self.company_time)
        self._load_company_records()

    def _load_company_records(self) -> None:
        stamp = self.company_time.stamp(self.clock.now().replace(year=2024, month=12, day=1))
        meta = {"CreateTime": stamp, "LastUpdatedTime": stamp}
        address = {
            "Id": "1",
            "Line1": "123 Sierra Way",
            "City": "San Pablo",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "87999",
        }
        self.company.company_info = {
            "CompanyName": COMPANY_NAME,
            "LegalName": COMPANY_NAME,
            "CompanyAddr": address,
            "CustomerCommunicationAddr": address,
            "LegalAddr": address,
            "PrimaryPhone": {},
            "CompanyStartDate": "2024-12-01",
            "FiscalYearStartMonth": "January",
            "Country": "US",
            "Email": {"Address": "books@crosswalk-demo.example"},
            "WebAddr": {},
            "SupportedLanguages": "en",
            "NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}],
            "domain": "QBO",
            "sparse": False,
            "Id": REALM_ID,
            "SyncToken": "1",
            "MetaData": meta,
        }
        self.company.preferences = {
            "AccountingInfoPrefs": {
                "TrackDepartments": False,
                "ClassTrackingPerTxn": False,
                "ClassTrackingPerTxnLine": True,
                "CustomerTerminology": "Customers",
            },
            "ProductAndServicesPrefs": {
                "ForSales": True,
                "ForPurchase": True,
                "QuantityWithPriceAndRate": True,
                "QuantityOnHand": True,
            },
            "SalesFormsPrefs": {
                "CustomTxnNumbers": False,
                "AllowDeposit": True,
                "AllowDiscount": True,
                "DefaultTerms": {"value": "3"},
                "AllowShipping": False,
                "ETransactionEnabledStatus": "NotApplicable",
                "AutoApplyCredit": False,
            },
            "VendorAndPurchasesPrefs": {
                "TrackingByCustomer": True,
                "BillableExpenseTracking": True,
                "POCustomField": [],
            },
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": True},
            "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "0",
            "MetaData": meta,
        }

    def snapshot_state(self) -> Any:
        return {
            "company": self.company.state(),
            "oauth": {k: v for k, v in self.oauth.__dict__.items() if k != "_lock"},
            "replays": dict(self.wire.replays),
            "seed_text": self.seed_text,
            "last_stamp": self._last_stamp_seconds,
            "initial_refresh_token": self.initial_refresh_token,
        }

    def restore_state(self, state: Any) -> None:
        self.seed_text = state["seed_text"]
        self.reset()
        self.company.load_state(state["company"])
        self.oauth.__dict__.update(state["oauth"])
        self.wire.replays.update(state["replays"])
        self._last_stamp_seconds = state["last_stamp"]
        self.initial_refresh_token = state["initial_refresh_token"]

    # ---- time --------------------------------------------------------------------------------------------

    def next_stamp(self) -> str:
        """A MetaData stamp after every earlier one (whole seconds, company offset)."""
        seconds = int(self.clock.tick().timestamp())
        if seconds <= self._last_stamp_seconds:
            seconds = self._last_stamp_seconds + 1
        self._last_stamp_seconds = seconds
        return self.company_time.stamp_from_epoch(seconds)

    def today(self) -> Any:
        return self.company_time.today(self.clock.now())

    # ---- EmulatorBackend ---------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return self.wire.routes()

    def generate(self, world: Any) -> dict[str, int]:
        assert isinstance(world, World)
        self.seed_text = str(world.seed)
        self.reset()
        # Millions of new dicts would trigger repeated full collections; none of them form cycles.
        collecting = gc.isenabled()
        gc.disable()
        try:
            counts, latest = generate_world(self.company, self.company_time, world)
        finally:
            if collecting:
                gc.enable()
            gc.freeze()
        self.clock.observe(latest)
        self._last_stamp_seconds = max(self._last_stamp_seconds, int(latest.timestamp()))
        return counts

    def seed(self, records: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        for name in records:
            if name not in KINDS and name != SETTINGS_OBJECT:
                raise UnknownObjectError(name)
        counts: dict[str, int] = {}
        for name, rows in records.items():
            if not isinstance(rows, list):
                raise TypeError(f"records[{name!r}] must be a list of records")
            if name == SETTINGS_OBJECT:
                for row in rows:
                    self.apply_settings(row)
            else:
                for row in rows:
                    if not isinstance(row, dict):
                        raise TypeError(f"a {name} record must be an object")
                    try:
                        self.company.seed_record(name, row)
                    except errors.QboError as exc:
                        raise ValueError(f"{name} record rejected: {exc.detail}") from exc
            counts[name] = len(rows)
        return counts

    def apply_settings(self, settings: dict[str, Any]) -> None:
        """Limits and token policy, changed through the admin seed API (object EmulatorSettings)."""
        known = {
            "requests_per_minute",
            "concurrent_requests",
            "batch_per_minute",
            "throttle_body",
            "refresh_token_rotation_seconds",
            "refresh_token_grace_seconds",
            "access_token_seconds",
            "advance_clock_seconds",
            "auto_apply_credit",
        }
        unknown = set(settings) - known
        if unknown:
            raise ValueError(f"unknown {SETTINGS_OBJECT} keys {sorted(unknown)}; known: {sorted(known)}")
        for key in ("requests_per_minute", "concurrent_requests", "batch_per_minute"):
            if key in settings:
                setattr(self.throttle_settings, key, int(settings[key]))
        if "throttle_body" in settings:
            if settings["throttle_body"] not in ("xml", "json"):
                raise ValueError("throttle_body must be 'xml' or 'json'")
            self.throttle_settings.throttle_body = settings["throttle_body"]
        policy = self.oauth.settings
        if "refresh_token_rotation_seconds" in settings:
            policy.rotation_seconds = float(settings["refresh_token_rotation_seconds"])
        if "refresh_token_grace_seconds" in settings:
            policy.grace_seconds = float(settings["refresh_token_grace_seconds"])
        if "access_token_seconds" in settings:
            policy.access_token_seconds = float(settings["access_token_seconds"])
        if "advance_clock_seconds" in settings:
            self.clock.advance(timedelta(seconds=float(settings["advance_clock_seconds"])))
        if "auto_apply_credit" in settings:
            if not isinstance(settings["auto_apply_credit"], bool):
                raise ValueError("auto_apply_credit must be true or false")
            # The company preference "Automatically apply credits" (Preferences.SalesFormsPrefs.AutoApplyCredit).
            self.company.preferences["SalesFormsPrefs"]["AutoApplyCredit"] = settings["auto_apply_credit"]

    def settings(self) -> dict[str, Any]:
        policy = self.oauth.settings
        return {
            "requests_per_minute": self.throttle_settings.requests_per_minute,
            "concurrent_requests": self.throttle_settings.concurrent_requests,
            "batch_per_minute": self.throttle_settings.batch_per_minute,
            "throttle_body": self.throttle_settings.throttle_body,
            "refresh_token_rotation_seconds": policy.rotation_seconds,
            "refresh_token_grace_seconds": policy.grace_seconds,
            "access_token_seconds": policy.access_token_seconds,
            "auto_apply_credit": bool(self.company.preferences["SalesFormsPrefs"].get("AutoApplyCredit")),
            "now": self.company_time.response_time(self.clock.now()),
        }

    def list_records(self, object_name: str) -> list[dict[str, Any]]:
        if object_name in KINDS:
            return list(self.company.records[object_name].values())
        if object_name == "CompanyInfo":
            return [self.company.company_info]
        if object_name == "Preferences":
            return [self.company.preferences]
        if object_name == SETTINGS_OBJECT:
            return [self.settings()]
        raise UnknownObjectError(object_name)

    def env_exports(self, origin: str, ca_bundle: str | None) -> dict[str, str]:
        env = {
            "QBO_BASE_URL": f"{origin}/v3",
            "QBO_DISCOVERY_URL": f"{origin}/.well-known/openid_configuration",
            "QBO_CLIENT_ID": self.client_id,
            "QBO_CLIENT_SECRET": self.client_secret,
            "QBO_REALM_ID": REALM_ID,
            "QBO_REFRESH_TOKEN": self.initial_refresh_token,
        }
        if ca_bundle:
            env["REQUESTS_CA_BUNDLE"] = ca_bundle
        return env

    def expire_sessions(self) -> None:
        self.oauth.expire_access_tokens(self.clock.now())

    def fault_response(self, fault: Fault, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/oauth2/"):
            status = fault.status or (429 if fault.kind is FaultKind.THROTTLE else 503)
            error = "too_many_requests" if fault.kind is FaultKind.THROTTLE else "server_error"
            reply: Response = JSONResponse({"error": error}, status_code=status)
        elif fault.kind is FaultKind.THROTTLE:
            reply = self.wire.throttled(status=fault.status or 429)
        else:
            status = fault.status or 500
            if status == 503:
                reply = Response(errors.SERVICE_UNAVAILABLE_HTML, status_code=503, media_type="text/html")
            elif status == 504:
                reply = self.wire.xml_reply(
                    504, "SERVICE", "6002", "message=GatewayTimeout; errorCode=006002; statusCode=504", None
                )
            else:
                failure = errors.system_failure()
                failure.status = status
                reply = self.wire.fault_reply(failure)
        if fault.retry_after is not None:
            reply.headers["Retry-After"] = str(int(fault.retry_after))
        return reply

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "system": self.name,
            "realm_id": REALM_ID,
            "records": {name: len(rows) for name, rows in self.company.records.items()},
        }
