"""Cache keys: a step is skipped when code, parameters, inputs and formats are unchanged.

The key hashes four parts, kept apart so that a miss can be explained:
``source`` (the function's code without decorators), ``parameters``, ``inputs`` (the
content hash of every input artifact) and ``materializers`` (format versions of inputs
and outputs).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PART_LABELS = {
    "source": "the step's code changed",
    "parameters": "its parameters changed",
    "inputs": "an input artifact's content changed",
    "materializers": "a materializer's format version changed",
}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def cache_parts(
    *,
    source_hash: str,
    parameters: dict[str, Any],
    input_hashes: dict[str, str],
    materializer_versions: dict[str, str],
) -> dict[str, Any]:
    """The parts of a cache key, each reduced to a hash (with input hashes kept by name)."""
    return {
        "source": source_hash,
        "parameters": _digest(parameters),
        "inputs": dict(sorted(input_hashes.items())),
        "materializers": dict(sorted(materializer_versions.items())),
    }


def cache_key(parts: dict[str, Any]) -> str:
    return _digest(parts)


def explain_miss(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """Human reasons why ``current`` differs from ``previous`` (empty if they match)."""
    if not previous:
        return ["no earlier run of this step to reuse"]
    reasons = []
    for part, label in PART_LABELS.items():
        if previous.get(part) != current.get(part):
            if part == "inputs":
                changed = sorted(
                    k for k in set(previous.get("inputs", {})) | set(current.get("inputs", {}))
                    if previous.get("inputs", {}).get(k) != current.get("inputs", {}).get(k)
                )
                reasons.append(f"input(s) {', '.join(changed)} changed content")
            else:
                reasons.append(label)
    return reasons


__all__ = ["cache_key", "cache_parts", "explain_miss"]
