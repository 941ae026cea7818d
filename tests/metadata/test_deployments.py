"""Deployments in the store: a switch to a deployment that has no row says so."""

from __future__ import annotations

import pytest

from dosirak.errors import NotFoundError
from dosirak.metadata.store import get_store


def test_switching_to_a_deployment_that_has_no_row_is_not_found_and_changes_nothing() -> None:
    deployments = get_store().deployments
    old = deployments.create_deployment(name="d", deployer="local", flavor="local", status="running")
    with pytest.raises(NotFoundError, match="no deployment with id 'no-such-id'"):
        deployments.switch_deployments("no-such-id", [old.id])
    assert deployments.get_deployment(old.id) == old
