"""Credentials written into a store in clear text, as a dosirak without references would have.

Every planted string starts with :data:`MARKER` (and the one number is :data:`NUMBER`), so a test can check that no output shows
any of them (or a piece of one that a renderer shortened).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from dosirak.metadata.driver import sqlite_path

MARKER = "ZQ9X"
#: The one planted credential that is a number (its digits must not show either).
NUMBER = 8675309421

#: The options planted per component, keyed by every spelling of a credential key the masking must catch.
PLANTED: dict[tuple[str, str], dict[str, Any]] = {
    ("artifact-store", "legacy_s3"): {
        "path": f"s3://alice:{MARKER}-url-password@bucket/dosirak",
        "storage_options": {
            "key": f"{MARKER}-key",
            "secret": f"{MARKER}-secret",
            "client_kwargs": {"aws_session_token": f"{MARKER}-session-token", "region_name": "eu-west-1"},
            "headers": [{"Authorization": f"Bearer {MARKER}-bearer"}, {"X-Api-Key": f"{MARKER}-api-key"}],
            "credentials": {"type": "service_account", "private_key": f"{MARKER}-private-key"},
        },
    },
    ("model-deployer", "legacy_deployer"): {
        "port": 3100, "Password": f"{MARKER}-password", "sasToken": f"{MARKER}-sas", "passwd": NUMBER,
        "AccountKey": f"{MARKER}-account-key", "auth_token": f"{MARKER}-auth",
    },
}


def plant_clear_text_credentials(store: Any, store_url: str) -> None:
    """Register the components of :data:`PLANTED`, then write their configs into the SQLite file directly.

    The components are registered without options (so the store's refusal of clear text
    does not stop it), joined into the active stack ``legacy``, and then their ``config``
    column is overwritten in SQL, the way an older dosirak stored whatever it was given.
    """
    for (component_type, name), _config in PLANTED.items():
        flavor = "fsspec" if component_type == "artifact-store" else "local"
        store.stacks.register_component(component_type, name, flavor, {})
    store.stacks.register_stack("legacy", {"orchestrator": "default", "artifact-store": "legacy_s3",
                                    "model-deployer": "legacy_deployer"})
    store.stacks.set_active_stack("legacy")
    path = sqlite_path(store_url)
    if path is None:
        raise AssertionError(f"planting needs a SQLite file store, not {store_url}")
    conn = sqlite3.connect(path)
    try:
        with conn:
            for (component_type, name), config in PLANTED.items():
                changed = conn.execute("UPDATE stack_components SET config = ? WHERE type = ? AND name = ?",
                                       (json.dumps(config), component_type, name)).rowcount
                if changed != 1:
                    raise AssertionError(f"{component_type} {name} was not planted")
    finally:
        conn.close()
