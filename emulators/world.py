"""The generated world every emulator seeds from: one set of customers, projects, companies and documents,
seen from each system, deterministic from a seed, at any scale.

Each entity is a pure function of (seed, kind, index), so every emulator process derives its own view without
generating the others' data, and the views agree: Intacct's project 17 and Salesforce's project 17 are the same
project. `presence` says on which side of a sync pair an entity exists and whether the two sides are linked or
have drifted apart (the right side shows an edited name).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cached_property

# Seeded data is stamped in the past, before any live write the emulator clock will stamp.
HISTORY_START = datetime(2025, 1, 1, tzinfo=UTC)
HISTORY_SPAN = timedelta(days=600)

# Primary kinds take the requested scale; reference kinds stay small.
PRIMARY_KINDS = (
    "customers",
    "vendors",
    "contacts",
    "products",
    "projects",
    "tasks",
    "opportunities",
    "sales_orders",
    "invoices",
    "purchase_orders",
    "bills",
)
DEMO_COUNTS = {
    "customers": 12,
    "vendors": 6,
    "contacts": 20,
    "products": 15,
    "projects": 10,
    "tasks": 30,
    "opportunities": 12,
    "sales_orders": 6,
    "invoices": 10,
    "purchase_orders": 8,
    "bills": 6,
    "employees": 6,
    "users": 4,
}
REFERENCE_CAPS = {"employees": 200, "users": 50}
ENTITIES = (("E100", "United States"), ("E200", "Canada"), ("E300", "United Kingdom"))

_FIRST = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kira", "Luca", "Maya")
_LAST = ("Okafor", "Nguyen", "Schmidt", "Rossi", "Dubois", "Tanaka", "Kowalski", "Silva", "Haddad", "Moreau")
_COMPANY = ("Northwind", "Bluebird", "Summit", "Harbor", "Cedar", "Atlas", "Juniper", "Pioneer", "Beacon", "Orchard")
_COMPANY_KIND = ("Outfitters", "Promotions", "Events", "Hospitality", "Logistics", "Clinics", "Foods", "Studios")
_VENDOR_KIND = ("Apparel Supply", "Drinkware", "Embroidery", "Screen Printing", "Packaging", "Print Works")
_PRODUCT = ("Tote Bag", "Water Bottle", "Polo Shirt", "Notebook", "Pen Set", "Cap", "Lanyard", "Mug", "Hoodie")
_CITIES = (("Seattle", "WA", "USA"), ("Austin", "TX", "USA"), ("Toronto", "ON", "Canada"), ("Leeds", "", "UK"))
_PROJECT_STATUS = ("Not Started", "In Progress", "In Progress", "In Progress", "Completed", "On Hold")
_TASK_STATUS = ("Not Started", "Planned", "In Progress", "In Progress", "Completed")
_OPP_STAGE = ("Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost")


class Presence(StrEnum):
    """Where a synced entity exists: `left` is Intacct or ESP+, `right` is Salesforce or QuickBooks Online."""

    LINKED = "linked"  # both sides, linked, identical
    DRIFTED = "drifted"  # both sides, linked, the right side edited since the last sync
    UNLINKED = "unlinked"  # both sides, same data, never linked (to be matched)
    LEFT_ONLY = "left_only"
    RIGHT_ONLY = "right_only"

    @property
    def on_left(self) -> bool:
        return self is not Presence.RIGHT_ONLY

    @property
    def on_right(self) -> bool:
        return self is not Presence.LEFT_ONLY

    @property
    def linked(self) -> bool:
        return self in (Presence.LINKED, Presence.DRIFTED)


_PRESENCE_WEIGHTS = (
    (Presence.LINKED, 50),
    (Presence.DRIFTED, 10),
    (Presence.UNLINKED, 10),
    (Presence.LEFT_ONLY, 20),
    (Presence.RIGHT_ONLY, 10),
)
_PRESENCE_TABLE = [p for p, weight in _PRESENCE_WEIGHTS for _ in range(weight)]


@dataclass(frozen=True)
class Stamps:
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class Customer:
    index: int
    number: str  # e.g. C-000001: Intacct CUSTOMERID, ESP+ account number
    name: str
    email: str
    phone: str
    city: str
    state: str
    country: str
    active: bool
    presence: Presence
    stamps: Stamps

    @property
    def right_name(self) -> str:
        return f"{self.name} (edited)" if self.presence is Presence.DRIFTED else self.name


@dataclass(frozen=True)
class Vendor:
    index: int
    number: str
    name: str
    is_decorator: bool
    email: str
    active: bool
    presence: Presence
    stamps: Stamps


@dataclass(frozen=True)
class Contact:
    index: int
    customer_index: int
    first_name: str
    last_name: str
    email: str
    title: str
    stamps: Stamps


@dataclass(frozen=True)
class Product:
    index: int
    number: str
    name: str
    description: str
    unit_price: float
    unit_cost: float
    presence: Presence
    stamps: Stamps


@dataclass(frozen=True)
class Employee:
    index: int
    employee_id: str
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class Project:
    index: int
    project_id: str  # Intacct PROJECTID, e.g. PRJ-000017
    name: str
    customer_index: int
    manager_index: int
    entity_id: str | None  # multi-entity location (None: top level)
    status: str
    begin_date: date
    end_date: date
    budget_amount: float
    description: str
    opportunity_index: int | None  # the opportunity it originated from (SPEC A5)
    presence: Presence
    stamps: Stamps

    @property
    def right_name(self) -> str:
        return f"{self.name} (edited)" if self.presence is Presence.DRIFTED else self.name


@dataclass(frozen=True)
class Task:
    index: int
    task_id: str
    name: str
    project_index: int
    status: str
    begin_date: date
    end_date: date
    planned_hours: float
    actual_hours: float
    stamps: Stamps

    @property
    def percent_complete(self) -> float:
        if self.planned_hours <= 0:
            return 0.0
        return round(min(100.0, 100.0 * self.actual_hours / self.planned_hours), 2)


@dataclass(frozen=True)
class Opportunity:
    index: int
    name: str
    customer_index: int
    amount: float
    stage: str
    close_date: date
    project_index: int | None  # set when the opportunity asked for / originated a project
    stamps: Stamps

    @property
    def asks_for_project(self) -> bool:
        """Won without a project yet: the opportunity asks for one (SPEC A5), for the sync to create."""
        return self.project_index is None and self.stage == "Closed Won"


@dataclass(frozen=True)
class DocumentLine:
    product_index: int
    description: str
    quantity: int
    unit_price: float
    unit_cost: float

    @property
    def amount(self) -> float:
        return round(self.quantity * self.unit_price, 2)

    @property
    def cost(self) -> float:
        return round(self.quantity * self.unit_cost, 2)


@dataclass(frozen=True)
class Document:
    """An ESP+ order document: sales order, invoice, purchase order or bill."""

    index: int
    kind: str  # sales_order | invoice | purchase_order | bill
    number: str
    customer_index: int
    vendor_index: int | None  # purchase orders and bills
    owner_user_index: int
    txn_date: date
    due_date: date
    lines: tuple[DocumentLine, ...]
    presence: Presence  # LINKED/DRIFTED: already sent to QBO; LEFT_ONLY: not sent yet; RIGHT_ONLY: entered in QBO only
    stamps: Stamps

    @property
    def total(self) -> float:
        return round(sum(line.amount for line in self.lines), 2)

    @property
    def total_cost(self) -> float:
        return round(sum(line.cost for line in self.lines), 2)


@dataclass
class World:
    seed: int = 1
    scale: int | str = "demo"
    overrides: dict[str, int] = field(default_factory=dict)

    @cached_property
    def counts(self) -> dict[str, int]:
        if self.scale == "none":
            counts = {kind: 0 for kind in DEMO_COUNTS}
        elif self.scale == "demo":
            counts = dict(DEMO_COUNTS)
        else:
            n = int(self.scale)
            if n < 0:
                raise ValueError(f"scale must be demo, none or a non-negative integer, got {self.scale!r}")
            counts = {kind: n for kind in PRIMARY_KINDS}
            counts.update({kind: min(n, cap) for kind, cap in REFERENCE_CAPS.items()})
        unknown = set(self.overrides) - set(DEMO_COUNTS)
        if unknown:
            raise ValueError(f"unknown kinds in counts: {sorted(unknown)}; known: {sorted(DEMO_COUNTS)}")
        counts.update(self.overrides)
        return counts

    def _rng(self, kind: str, index: int) -> random.Random:
        # A string seed hashes with SHA-512 in random.seed: stable across processes and Python runs.
        return random.Random(f"{self.seed}:{kind}:{index}")

    def _stamps(self, rng: random.Random, index: int, total: int) -> Stamps:
        created = HISTORY_START + HISTORY_SPAN * (index / max(total, 1)) + timedelta(seconds=rng.randrange(3600))
        modified = created + timedelta(seconds=rng.randrange(90 * 86400))
        return Stamps(created_at=created, modified_at=modified)

    def _presence(self, rng: random.Random) -> Presence:
        return rng.choice(_PRESENCE_TABLE)

    def customer(self, i: int) -> Customer:
        rng = self._rng("customer", i)
        name = f"{rng.choice(_COMPANY)} {rng.choice(_COMPANY_KIND)} {i + 1:06d}"
        city, state, country = rng.choice(_CITIES)
        return Customer(
            index=i,
            number=f"C-{i + 1:06d}",
            name=name,
            email=f"accounts{i + 1}@{name.split()[0].lower()}.example",
            phone=f"+1-555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}",
            city=city,
            state=state,
            country=country,
            active=rng.random() > 0.05,
            presence=self._presence(rng),
            stamps=self._stamps(rng, i, self.counts["customers"]),
        )

    def vendor(self, i: int) -> Vendor:
        rng = self._rng("vendor", i)
        is_decorator = rng.random() < 0.3
        name = f"{rng.choice(_COMPANY)} {rng.choice(_VENDOR_KIND)} {i + 1:06d}"
        return Vendor(
            index=i,
            number=f"V-{i + 1:06d}",
            name=name,
            is_decorator=is_decorator,
            email=f"orders{i + 1}@{name.split()[0].lower()}-supply.example",
            active=rng.random() > 0.05,
            presence=self._presence(rng),
            stamps=self._stamps(rng, i, self.counts["vendors"]),
        )

    def contact(self, i: int) -> Contact:
        rng = self._rng("contact", i)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return Contact(
            index=i,
            customer_index=i % max(self.counts["customers"], 1),
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}{i + 1}@example.com",
            title=rng.choice(("Buyer", "Marketing Manager", "Office Manager", "Events Lead")),
            stamps=self._stamps(rng, i, self.counts["contacts"]),
        )

    def product(self, i: int) -> Product:
        rng = self._rng("product", i)
        base = rng.choice(_PRODUCT)
        cost = round(rng.uniform(1.5, 25.0), 2)
        return Product(
            index=i,
            number=f"P-{i + 1:06d}",
            name=f"{base} {i + 1:06d}",
            description=f"{rng.choice(('Branded', 'Embroidered', 'Printed', 'Engraved'))} {base.lower()}",
            unit_price=round(cost * rng.uniform(1.4, 2.2), 2),
            unit_cost=cost,
            presence=self._presence(rng),
            stamps=self._stamps(rng, i, self.counts["products"]),
        )

    def employee(self, i: int) -> Employee:
        rng = self._rng("employee", i)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return Employee(
            index=i,
            employee_id=f"EMP-{i + 1:04d}",
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}.{i + 1}@crosswalk-demo.example",
        )

    def project(self, i: int) -> Project:
        rng = self._rng("project", i)
        begin = (HISTORY_START + timedelta(days=rng.randrange(500))).date()
        n_opps = self.counts["opportunities"]
        return Project(
            index=i,
            project_id=f"PRJ-{i + 1:06d}",
            name=f"{rng.choice(_COMPANY)} {rng.choice(('Rollout', 'Campaign', 'Launch', 'Refresh', 'Summit'))} {i + 1}",
            customer_index=rng.randrange(max(self.counts["customers"], 1)),
            manager_index=rng.randrange(max(self.counts["employees"], 1)),
            entity_id=rng.choice((None, None, ENTITIES[0][0], ENTITIES[1][0], ENTITIES[2][0])),
            status=rng.choice(_PROJECT_STATUS),
            begin_date=begin,
            end_date=begin + timedelta(days=rng.randrange(14, 240)),
            budget_amount=float(rng.randrange(5, 500) * 100),
            description=f"Project {i + 1} for a promotional programme",
            opportunity_index=i if i < n_opps and rng.random() < 0.4 else None,
            presence=self._presence(rng),
            stamps=self._stamps(rng, i, self.counts["projects"]),
        )

    def task(self, i: int) -> Task:
        rng = self._rng("task", i)
        project_index = i % max(self.counts["projects"], 1)
        begin = (HISTORY_START + timedelta(days=rng.randrange(500))).date()
        planned = float(rng.randrange(4, 200))
        status = rng.choice(_TASK_STATUS)
        actual = {"Not Started": 0.0, "Planned": 0.0, "Completed": planned}.get(
            status, round(planned * rng.uniform(0.05, 0.95), 1)
        )
        return Task(
            index=i,
            task_id=f"T-{i + 1:07d}",
            name=rng.choice(("Design", "Proofing", "Production", "Shipping", "Kickoff", "Invoicing")) + f" {i + 1}",
            project_index=project_index,
            status=status,
            begin_date=begin,
            end_date=begin + timedelta(days=rng.randrange(1, 60)),
            planned_hours=planned,
            actual_hours=actual,
            stamps=self._stamps(rng, i, self.counts["tasks"]),
        )

    def opportunity(self, i: int) -> Opportunity:
        rng = self._rng("opportunity", i)
        has_project = i < self.counts["projects"] and self.project(i).opportunity_index == i
        return Opportunity(
            index=i,
            name=f"{rng.choice(_COMPANY)} {rng.choice(('Q3 Order', 'Conference Kit', 'Onboarding Pack'))} {i + 1}",
            customer_index=rng.randrange(max(self.counts["customers"], 1)),
            amount=float(rng.randrange(10, 2000) * 50),
            stage="Closed Won" if has_project else rng.choice(_OPP_STAGE),
            close_date=(HISTORY_START + timedelta(days=rng.randrange(600))).date(),
            project_index=i if has_project else None,
            stamps=self._stamps(rng, i, self.counts["opportunities"]),
        )

    def document(self, kind: str, i: int) -> Document:
        count_key = {"sales_order": "sales_orders", "invoice": "invoices", "purchase_order": "purchase_orders",
                     "bill": "bills"}[kind]
        rng = self._rng(kind, i)
        txn = (HISTORY_START + timedelta(days=rng.randrange(600))).date()
        n_products = max(self.counts["products"], 1)
        lines = []
        for _ in range(rng.randrange(1, 5)):
            product = self.product(rng.randrange(n_products)) if self.counts["products"] else None
            lines.append(
                DocumentLine(
                    product_index=product.index if product else 0,
                    description=product.description if product else "Promotional item",
                    quantity=rng.randrange(25, 1000),
                    unit_price=product.unit_price if product else 5.0,
                    unit_cost=product.unit_cost if product else 3.0,
                )
            )
        prefix = {"sales_order": "SO", "invoice": "INV", "purchase_order": "PO", "bill": "BILL"}[kind]
        has_vendor = kind in ("purchase_order", "bill") and self.counts["vendors"] > 0
        return Document(
            index=i,
            kind=kind,
            number=f"{prefix}-{i + 1:06d}",
            customer_index=rng.randrange(max(self.counts["customers"], 1)),
            vendor_index=rng.randrange(self.counts["vendors"]) if has_vendor else None,
            owner_user_index=rng.randrange(max(self.counts["users"], 1)),
            txn_date=txn,
            due_date=txn + timedelta(days=30),
            lines=tuple(lines),
            presence=Presence.LEFT_ONLY if kind == "sales_order" else self._presence(rng),
            stamps=self._stamps(rng, i, self.counts[count_key]),
        )


# ---- deterministic ids: how one system refers to another system's seeded record ---------------------------------
# Seeded records get ids computed from their world index, so a linked record on one side can carry the other side's
# id without the two emulator processes talking to each other. Live creates continue each system's own sequence
# above the seeded range.

_SF_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SALESFORCE_ORG_POD = "5g"  # the 2 characters after the key prefix (instance/pod) in every emulated Salesforce id
QUICKBOOKS_SEEDED_ID_OFFSET = 1000  # QBO ids below this are the emulator's reference data (accounts, terms, tax codes)


def salesforce_id_checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character Salesforce id case-insensitively unique (18 characters)."""
    suffix = ""
    for chunk_start in (0, 5, 10):
        bits = 0
        for position, char in enumerate(id15[chunk_start : chunk_start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SF_CHECKSUM_ALPHABET[bits]
    return suffix


def salesforce_id(key_prefix: str, number: int) -> str:
    """An 18-character Salesforce id: key prefix (e.g. 001 Account), pod, base-62 sequence number, checksum."""
    digits = ""
    value = number
    while True:
        value, remainder = divmod(value, 62)
        digits = _BASE62[remainder] + digits
        if value == 0:
            break
    body = f"{key_prefix}{SALESFORCE_ORG_POD}{digits.rjust(10, '0')}"
    return body + salesforce_id_checksum(body)


def quickbooks_id(index: int) -> str:
    """The QBO Id of a seeded name-list or transaction record with this world index (each entity its own sequence)."""
    return str(QUICKBOOKS_SEEDED_ID_OFFSET + index + 1)


def intacct_recordno(index: int) -> int:
    """The Intacct RECORDNO of a seeded record with this world index (each object its own sequence)."""
    return index + 1
