"""Validate: Great Expectations suites over each side's mapped records of an entity, before anything is planned.

One suite per entity and side (`project.salesforce`), built from the mapping: required fields, unique identities
(ids the other side keeps or refers by), values inside the side's value map, numeric ranges, text that fits the
target (fields that are not truncated), ordered pairs (begin <= end), and references that name an existing record
(a task's project). A failing record is refused with the expectation, field and reason (and quarantined by the
engine); the others go on. The results are what the plan asset reports as its asset checks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crosswalk.sync.mapper import FieldProblem, MappedRecord
from crosswalk.sync.mapping import EntityRule, SyncMapping

KEY = "_key"
STAGE = "validate"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str  # e.g. expect_column_values_to_not_be_null
    column: str
    success: bool
    unexpected: int


@dataclass
class SuiteResult:
    name: str  # "<entity>.<system>"
    entity: str
    system: str
    evaluated: int = 0
    unchanged: int = 0  # records not evaluated: unchanged since a plan found their pair with nothing to do
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    refused: dict[str, list[FieldProblem]] = field(default_factory=dict)  # record key -> problems
    seconds: float = 0.0  # Great Expectations' own run of the suite (the frame built, the results read: not counted)

    @property
    def success(self) -> bool:
        return all(outcome.success for outcome in self.outcomes)


def suite_names(mapping: SyncMapping) -> list[tuple[str, str]]:
    """(entity, system) of every suite the mapping gives, in order: one per synced entity and side."""
    return [(entity.name, system) for entity in mapping.entities.values() if entity.sync for system in mapping.systems]


@dataclass
class _Expectation:
    config: Any
    column: str  # the canonical field it is about (or the identity field)
    reason: str  # what a failing record is told


def _expectations(
    mapping: SyncMapping, entity: EntityRule, system: str, references: Mapping[str, set[str]]
) -> list[_Expectation]:
    import great_expectations as gx

    out: list[_Expectation] = []
    other = mapping.other(system)
    for rule in entity.fields:
        api = rule.fields[system]
        if rule.required:
            out.append(_Expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=rule.name), rule.name,
                                    f"{api} is required"))  # fmt: skip
        if rule.values:
            allowed = sorted(rule.values) if system == mapping.left else sorted(set(rule.values.values()))
            out.append(_Expectation(gx.expectations.ExpectColumnValuesToBeInSet(column=rule.name, value_set=allowed),
                                    rule.name, f"{api} must be one of {', '.join(allowed)}"))  # fmt: skip
        if rule.range is not None:
            low, high = rule.range
            out.append(_Expectation(
                gx.expectations.ExpectColumnValuesToBeBetween(column=f"{rule.name}#number", min_value=low,
                                                              max_value=high),
                rule.name, f"{api} must be between {low} and {high}",
            ))  # fmt: skip
        length = rule.max_length.get(other)
        if length is not None and not rule.truncate and rule.flows_to(other, mapping.systems):
            out.append(_Expectation(
                gx.expectations.ExpectColumnValueLengthsToBeBetween(column=rule.name, max_value=length),
                rule.name, f"{api} is longer than the {length} characters {other}'s {rule.fields[other]} holds",
            ))  # fmt: skip
        if rule.reference is not None and rule.reference in references:
            # Whether each value names a record of that side is worked out beside the frame (the set of every
            # record's id is too big to hand to an expectation); the expectation reads the answer.
            out.append(_Expectation(
                gx.expectations.ExpectColumnValuesToBeInSet(column=f"{rule.name}#known", value_set=[True]), rule.name,
                f"{api} names a {rule.reference} that {system} does not have",
            ))  # fmt: skip
    for identity in unique_identities(entity, system, other):
        out.append(_Expectation(gx.expectations.ExpectColumnValuesToBeUnique(column=f"@{identity}"), f"@{identity}",
                                f"{identity} is shared with another {entity.objects[system]} record"))  # fmt: skip
    for check in entity.checks.get(system, ()):
        column = f"!{check.column}"
        if check.rule == "between":
            low, high = check.argument
            config = gx.expectations.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)
        elif check.rule == "equals_column":
            config = gx.expectations.ExpectColumnPairValuesToBeEqual(
                column_A=column, column_B=f"!{check.argument}", ignore_row_if="either_value_is_missing"
            )
        elif check.rule == "not_null":
            config = gx.expectations.ExpectColumnValuesToNotBeNull(column=column)
        else:
            config = gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=list(check.argument))
        out.append(_Expectation(config, column, check.reason))
    for first, second in entity.ordered:
        out.append(_Expectation(
            gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=second, column_B=first, or_equal=True, ignore_row_if="either_value_is_missing"
            ),
            second, f"{entity.field(second).fields[system]} is before {entity.field(first).fields[system]}",
        ))  # fmt: skip
    return out


def unique_identities(entity: EntityRule, system: str, other: str) -> list[str]:
    """The identity fields no two records of a side may share."""
    names = []
    if system in entity.link_fields:
        names.append(entity.link_fields[system].field)
    if other in entity.link_fields and entity.link_fields[other].holds != entity.keys[system]:
        names.append(entity.link_fields[other].holds)
    if system in entity.refer_by:
        names.append(entity.refer_by[system])
    return list(dict.fromkeys(names))


def validate_side(
    mapping: SyncMapping,
    entity: EntityRule,
    system: str,
    records: Iterable[MappedRecord],
    references: Mapping[str, set[str]],
) -> SuiteResult:
    """Run the side's suite over its records that mapped; failing records get a FieldProblem at stage validate."""
    import great_expectations as gx
    import pandas as pd

    rows = [record for record in records if record.ok]
    result = SuiteResult(f"{entity.name}.{system}", entity.name, system, evaluated=len(rows))
    expectations = _expectations(mapping, entity, system, references)
    if not rows or not expectations:
        return result
    # Only the columns the suite reads: Great Expectations fingerprints the whole frame of every batch.
    read = {KEY} | {getattr(e.config, name, None) for e in expectations for name in ("column", "column_A", "column_B")}
    columns: dict[str, list[Any]] = {KEY: [record.key for record in rows]}
    for rule in entity.fields:
        name, number, known_name = rule.name, f"{rule.name}#number", f"{rule.name}#known"
        if {name, number, known_name} & read:
            values = [record.values.get(name) for record in rows]
            columns[name] = values
            if number in read:
                columns[number] = [_number(value) for value in values]
            if known_name in read and rule.reference is not None:
                known = references[rule.reference]
                columns[known_name] = [value is None or value in known for value in values]
    for identity in unique_identities(entity, system, mapping.other(system)):
        columns[f"@{identity}"] = [record.identity.get(identity) for record in rows]
    for check in entity.checks.get(system, ()):
        for name in (check.column, check.argument if check.rule == "equals_column" else None):
            if name is not None:
                columns[f"!{name}"] = [record.checked.get(name) for record in rows]
    frame = pd.DataFrame({name: values for name, values in columns.items() if name in read})

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = _no_progress_bars()
    asset = context.data_sources.add_pandas("crosswalk").add_dataframe_asset(result.name)
    whole = asset.add_batch_definition_whole_dataframe("all")  # a batch definition: the frame comes with run()
    suite = context.suites.add(gx.ExpectationSuite(name=result.name, expectations=[e.config for e in expectations]))
    ours = {config.id: expectation for config, expectation in zip(suite.expectations, expectations, strict=True)}
    # A validation definition loads the batch once; Batch.validate loads it a second time, and every load
    # fingerprints the whole frame (two loads were about 40% of a first sync's suites at 10k projects).
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=result.name, data=whole, suite=suite))
    started = time.perf_counter()
    validation = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [KEY]},
    )
    result.seconds = time.perf_counter() - started
    names = {rule.name for rule in entity.fields}
    for outcome in validation.results:
        expectation = ours[outcome.expectation_config.id]
        unexpected = outcome.result.get("unexpected_index_list") or []
        kind = outcome.expectation_config.type
        result.outcomes.append(ExpectationOutcome(kind, expectation.column, bool(outcome.success), len(unexpected)))
        field_name = expectation.column.lstrip("@!")
        api = entity.field(field_name).fields[system] if field_name in names else field_name
        for row in unexpected:
            problem = FieldProblem(field_name, api, kind, f"{api}: {expectation.reason}", stage=STAGE)
            result.refused.setdefault(str(row[KEY]), []).append(problem)
    return result


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _no_progress_bars() -> Any:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    return ProgressBarsConfig(globally=False, metric_calculations=False)
