"""The one description of the tables: consistent in itself, and what the SQLAlchemy tables are made of."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import JSON, BigInteger, Boolean, Double, Integer, String, Text

from dosirak.metadata import schema
from dosirak.metadata.tables import BOOL_COLUMNS, JSON_COLUMNS, TABLES, TIME_COLUMNS, TableSpec, empty_value

SQL_TYPES = {"integer": Integer, "float": Double, "bigint": BigInteger, "string": String, "text": Text, "json": JSON,
             "boolean": Boolean, "time": schema.UTCDateTime}
CONVERTED = ("json", "time", "boolean")


def test_a_column_name_means_one_kind_in_every_table() -> None:
    # SQL text is converted by parameter and column name, so a name must never be two kinds of value
    kinds: dict[str, set[str]] = defaultdict(set)
    for table in TABLES:
        for column in table.columns:
            kinds[column.name].add(column.kind if column.kind in CONVERTED else "plain")
    assert {name: k for name, k in kinds.items() if len(k) > 1} == {}


def test_the_typed_sets_name_exactly_the_columns_of_their_kind() -> None:
    columns = [c for t in TABLES for c in t.columns]
    assert {c.name for c in columns if c.kind == "json"} == JSON_COLUMNS
    assert {c.name for c in columns if c.kind == "time"} == TIME_COLUMNS
    assert {c.name for c in columns if c.kind == "boolean"} == BOOL_COLUMNS
    assert {"parameters", "extra", "value"} <= JSON_COLUMNS and "created_at" in TIME_COLUMNS


def test_every_reference_names_a_described_column_of_an_earlier_table() -> None:
    seen: dict[str, set[str]] = {}
    for table in TABLES:
        for column in table.columns:
            if column.references is not None:
                target, _, target_column = column.references.partition(".")
                assert target_column in seen.get(target, set()), f"{table.name}.{column.name} -> {column.references}"
        seen[table.name] = set(table.column_names)


@pytest.mark.parametrize("spec", TABLES, ids=lambda s: s.name)
def test_each_sqlalchemy_table_has_exactly_the_described_columns_with_their_kinds(spec: TableSpec) -> None:
    table = schema.metadata.tables[spec.name]
    assert tuple(table.columns.keys()) == spec.column_names
    for described in spec.columns:
        column = table.columns[described.name]
        assert isinstance(column.type, SQL_TYPES[described.kind]), described
        assert column.primary_key == described.primary_key
        assert column.nullable == (described.nullable and not described.primary_key)
        if described.kind == "string":
            assert column.type.length == described.length  # type: ignore[attr-defined]


def test_a_not_null_json_column_has_an_empty_value_and_a_nullable_one_has_none() -> None:
    assert empty_value("parameters") is dict
    assert empty_value("apis") is list
    assert empty_value("value") is None  # kv.value may hold JSON null
    assert empty_value("name") is None
