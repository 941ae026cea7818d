"""Shared type aliases used across dosirak."""

from __future__ import annotations

from typing import TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = "JSONScalar | list[JSONValue] | dict[str, JSONValue]"
JSONDict = dict[str, JSONValue]
#: ``name:version`` / ``name:latest`` / ``name:alias``
Tag = str

__all__ = ["JSONDict", "JSONScalar", "JSONValue", "Tag"]
