"""``Client``: reading runs and pipelines back, by the names the CLI uses too."""

from __future__ import annotations

import pytest

from dosirak import Client
from dosirak.errors import NotFoundError
from tests._pipelines.measure import measure


def test_list_runs_takes_the_pipeline_by_the_name_the_cli_uses() -> None:
    first, second = measure(count=3), measure(count=4)
    assert [r.id for r in Client().list_runs(pipeline="measure")] == [second.id, first.id]
    assert [r.id for r in Client().list_runs("measure", limit=1)] == [second.id]


def test_list_runs_still_takes_the_former_pipeline_name_keyword() -> None:
    run = measure(count=3)
    assert [r.id for r in Client().list_runs(pipeline_name="measure")] == [run.id]
    with pytest.raises(TypeError, match="both pipeline= and pipeline_name="):
        Client().list_runs(pipeline="measure", pipeline_name="other")


def test_list_runs_of_an_unknown_pipeline_names_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match="no pipeline named 'measure'; no pipeline has run yet"):
        Client().list_runs(pipeline="measure")
    measure(count=3)
    with pytest.raises(NotFoundError, match="no pipeline named 'mesure'; known pipelines: measure$"):
        Client().list_runs(pipeline="mesure")
    with pytest.raises(NotFoundError, match="known pipelines: measure$"):
        Client().get_pipeline("mesure")
