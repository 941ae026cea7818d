"""Hostile YAML documents shared by the tests of every YAML reader."""

from __future__ import annotations


def billion_laughs(levels: int = 9) -> str:
    """~500 bytes that expand to 10**levels values through nested aliases."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"
