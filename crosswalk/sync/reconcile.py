"""Three-way, field-level reconcile of one linked pair against the values both sides held at the last sync.

Each side's values stay in that side's own terms (its status names, its ids, its text lengths); `translate` turns a
value into the other side's terms (value map, reference through links, truncation to the target's length). The base
is what each side held after the last sync. Per field: the sides agree (one is the other translated) -> in sync; one
side moved from its base -> its value flows to the other side if the field's direction allows it, else the owner's
value is written back over the edit; both moved, or never synced -> a conflict on a field synced both ways, settled
by the field's owner, else by the configured policy, and always recorded. What was written becomes the new base of
both sides, so Crosswalk's own writes never come back as changes, and a value truncated by the target does not
flow back to shorten the source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from crosswalk.sync.mapping import BOTH, EntityRule, FieldRule

Value = str | int | bool | None
_MISSING: Any = object()


class Untranslatable(Exception):
    """A value the other side cannot hold yet (a reference to a record not linked); the field waits a run."""


# translate(rule, target_system, value) -> the value in the target's terms; raises Untranslatable.
Translate = Callable[[FieldRule, str, Value], Value]


class ConflictPolicy(StrEnum):
    LEFT_WINS = "left_wins"
    RIGHT_WINS = "right_wins"
    LATEST_WINS = "latest_wins"


def policy_from_setting(setting: str, systems: tuple[str, str]) -> ConflictPolicy:
    """`intacct_wins` / `salesforce_wins` / `latest_wins` (config's conflict_policy) for a sync's two systems."""
    left, right = systems
    names = {f"{left}_wins": ConflictPolicy.LEFT_WINS, f"{right}_wins": ConflictPolicy.RIGHT_WINS,
             "latest_wins": ConflictPolicy.LATEST_WINS}  # fmt: skip
    try:
        return names[setting]
    except KeyError:
        raise ValueError(f"conflict_policy must be one of {', '.join(names)}, got {setting!r}") from None


@dataclass(frozen=True)
class Conflict:
    field: str
    base_left: Value
    base_right: Value
    left: Value
    right: Value
    winner: str  # "left" or "right": the side whose value was kept
    rule: str  # what decided: "direction", "owner", "policy intacct_wins", "policy latest_wins"


@dataclass
class Reconciled:
    """Values to write to each side (in that side's terms), conflicts, fields left for a later run, and the base
    of each side once the writes succeed."""

    to_left: dict[str, Value] = field(default_factory=dict)
    to_right: dict[str, Value] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)  # field -> why it could not be reconciled this run
    base_left: dict[str, Value] = field(default_factory=dict)
    base_right: dict[str, Value] = field(default_factory=dict)

    @property
    def in_sync(self) -> bool:
        return not self.to_left and not self.to_right


@dataclass(frozen=True)
class Side:
    """One side of a pair: its mapped values, its base (None: never synced) and when it was last modified."""

    values: Mapping[str, Value]
    base: Mapping[str, Value] | None = None
    modified: datetime | None = None


def reconcile_pair(
    entity: EntityRule,
    systems: tuple[str, str],
    left: Side,
    right: Side,
    policy: ConflictPolicy,
    translate: Translate,
) -> Reconciled:
    out = Reconciled()
    for rule in entity.fields:
        _reconcile_field(rule, systems, left, right, policy, translate, out)
    return out


def _try(translate: Translate, rule: FieldRule, target: str, value: Value) -> tuple[bool, Value, str | None]:
    try:
        return True, translate(rule, target, value), None
    except Untranslatable as exc:
        return False, None, str(exc)


def _reconcile_field(
    rule: FieldRule,
    systems: tuple[str, str],
    left: Side,
    right: Side,
    policy: ConflictPolicy,
    translate: Translate,
    out: Reconciled,
) -> None:
    name = rule.name
    if name not in left.values or name not in right.values:
        return  # not read on a side (e.g. a field the projects subscription lacks): leave it alone
    lv, rv = left.values[name], right.values[name]
    if lv == rv and not rule.values and rule.reference is None:
        # Same value in both systems' terms (no value map or id translation between them): in sync, the common case.
        out.base_left[name], out.base_right[name] = lv, rv
        return
    ok_lr, lv_as_right, why_lr = _try(translate, rule, systems[1], lv)
    if ok_lr and lv_as_right == rv:  # in sync through the value map or the link: the other way need not be tried
        out.base_left[name], out.base_right[name] = lv, rv
        return
    ok_rl, rv_as_left, why_rl = _try(translate, rule, systems[0], rv)
    if ok_rl and rv_as_left == lv:
        out.base_left[name], out.base_right[name] = lv, rv
        return
    bl = left.base.get(name, _MISSING) if left.base is not None else _MISSING
    br = right.base.get(name, _MISSING) if right.base is not None else _MISSING
    left_moved = bl is _MISSING or lv != bl
    right_moved = br is _MISSING or rv != br
    if rule.direction != BOTH:
        # One-way: the target always ends equal to the source; an edit on both sides since the last sync is a
        # conflict only in that the target's edit is written over, which is recorded.
        winner = "left" if rule.direction.split("_to_")[0] == systems[0] else "right"
        if left_moved and right_moved and bl is not _MISSING and br is not _MISSING:
            out.conflicts.append(Conflict(name, bl, br, lv, rv, winner, "direction"))
    elif left_moved and not right_moved:
        winner = "left"
    elif right_moved and not left_moved:
        winner = "right"
    elif bl is _MISSING and br is _MISSING and (lv is None) != (rv is None):
        # Never synced, and one side is blank: the value fills the blank (no history says the blank is newer).
        winner = "left" if rv is None else "right"
    elif not left_moved and not right_moved:
        # Both sides hold what they held after the last sync, yet no longer agree: the mapping changed (a value map,
        # a length). Not a conflict between edits: the side the owner or policy names is written to the other.
        winner, _why = _settle(rule, systems, policy, left.modified, right.modified)
    else:
        winner, why = _settle(rule, systems, policy, left.modified, right.modified)
        out.conflicts.append(
            Conflict(name, None if bl is _MISSING else bl, None if br is _MISSING else br, lv, rv, winner, why)
        )
    if winner == "left":
        if not ok_lr:
            out.waiting[name] = why_lr or "cannot be translated"
            return
        out.to_right[name] = lv_as_right
        out.base_left[name], out.base_right[name] = lv, lv_as_right
    else:
        if not ok_rl:
            out.waiting[name] = why_rl or "cannot be translated"
            return
        out.to_left[name] = rv_as_left
        out.base_left[name], out.base_right[name] = rv_as_left, rv


def _settle(
    rule: FieldRule,
    systems: tuple[str, str],
    policy: ConflictPolicy,
    left_modified: datetime | None,
    right_modified: datetime | None,
) -> tuple[str, str]:
    """Which side's value wins a conflict on a field synced both ways, and the rule that decided it."""
    if rule.owner is not None:
        return ("left" if rule.owner == systems[0] else "right"), "owner"
    if policy is ConflictPolicy.LEFT_WINS:
        return "left", f"policy {systems[0]}_wins"
    if policy is ConflictPolicy.RIGHT_WINS:
        return "right", f"policy {systems[1]}_wins"
    # latest_wins: the side modified last; a tie or an unknown stamp keeps the left side (the system of record).
    if left_modified is not None and right_modified is not None and right_modified > left_modified:
        return "right", "policy latest_wins"
    return "left", "policy latest_wins"
