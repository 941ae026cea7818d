from __future__ import annotations

from pathlib import Path

import pytest

import dosirak as dk
from dosirak.errors import ModelError, NotFoundError
from dosirak.settings import get_settings


def test_save_returns_incrementing_versions_and_latest_resolves_to_newest() -> None:
    first = dk.models.save("m", {"v": 1}, metrics={"acc": 0.5}, labels={"team": "a"}, metadata={"note": "x"})
    second = dk.models.save("m", {"v": 2})
    assert (first.tag, second.tag) == ("m:1", "m:2")
    assert dk.models.get("m:latest").tag == "m:2"
    assert dk.models.get("m").tag == "m:2"
    got = dk.models.get("m:1")
    assert got.metrics == {"acc": 0.5} and got.labels == {"team": "a"} and got.metadata == {"note": "x"}
    assert got.load() == {"v": 1}
    assert got.libraries["python"] and "cloudpickle" in got.libraries
    assert set(got.files) == {"model.pkl"} and len(got.files["model.pkl"]["sha256"]) == 64


def test_alias_moves_are_kept_as_history_and_resolve() -> None:
    for value in range(3):
        dk.models.save("m", value)
    dk.models.alias("m:1", "production")
    assert dk.models.get("m:production").load() == 0
    move = dk.models.alias("m:3", "production")
    assert (move.from_version, move.to_version) == (1, 3)
    assert dk.models.get("m:production").version == 3
    history = [(h.alias, h.from_version, h.to_version) for h in dk.models.alias_history("m")]
    assert history == [("production", None, 1), ("production", 1, 3)]
    assert dk.models.get("m:3").aliases == ("production",)


@pytest.mark.parametrize("alias", ["latest", "3", "", "-x"])
def test_invalid_alias_is_refused(alias: str) -> None:
    dk.models.save("m", 1)
    with pytest.raises(ModelError, match="invalid alias"):
        dk.models.alias("m:1", alias)


def test_unknown_model_version_and_alias_are_not_found() -> None:
    dk.models.save("m", 1)
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        dk.models.get("nope:latest")
    with pytest.raises(NotFoundError, match="no version or alias '7'"):
        dk.models.get("m:7")
    with pytest.raises(NotFoundError, match="no version or alias 'staging'"):
        dk.models.get("m:staging")


def test_delete_version_removes_files_and_aliases_but_history_keeps_the_number() -> None:
    dk.models.save("m", 1)
    doomed = dk.models.save("m", 2)
    dk.models.alias("m:2", "production")
    dk.models.delete("m:2")
    assert not doomed.path.exists()
    assert dk.models.get("m:latest").version == 1
    with pytest.raises(NotFoundError):
        dk.models.get("m:production")
    assert [(h.from_version, h.to_version) for h in dk.models.alias_history("m")][-1] == (2, None)


def test_failed_save_leaves_no_row_and_no_files() -> None:
    class Unpicklable:
        def __reduce__(self) -> None:
            raise TypeError("nope")

    with pytest.raises(ModelError, match="cannot pickle"):
        dk.models.save("bad", Unpicklable())
    with pytest.raises(NotFoundError):
        dk.models.get("bad")
    root = get_settings().models_root
    leftovers = [p for p in root.rglob("*") if p.is_file()]
    assert leftovers == []


def test_load_refuses_a_model_file_changed_after_saving() -> None:
    version = dk.models.save("m", {"a": 1})
    path = Path(version.path) / "model.pkl"
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ModelError, match="model.pkl .* does not match its recorded SHA-256"):
        dk.models.get("m:1").load()  # the size changed: caught by the default check


def test_full_verification_catches_a_same_size_change() -> None:
    version = dk.models.save("m", {"a": 1})
    path = Path(version.path) / "model.pkl"
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="model.pkl .* does not match its recorded SHA-256"):
        dk.models.get("m:1").load(verify=True)


def test_invalid_name_and_non_json_metrics_are_refused() -> None:
    with pytest.raises(ModelError, match="invalid model name"):
        dk.models.save("bad name", 1)
    with pytest.raises(ModelError, match="metrics must be JSON"):
        dk.models.save("m", 1, metrics={"x": object()})


def test_save_inside_a_step_records_the_run_and_step(tmp_path: Path) -> None:
    from dosirak import pipeline, step

    @step(enable_cache=False)
    def trainer() -> int:
        return dk.models.save("stepped", {"w": 1}).version

    @pipeline
    def train() -> None:
        trainer()

    run = train()
    version = dk.models.get("stepped:1")
    assert version.run_id == run.id
    assert version.step_run_id == run.steps["trainer"].id


def test_get_resolves_latest_number_and_alias_with_every_alias_of_the_version() -> None:
    for value in range(3):
        dk.models.save("m", value)
    dk.models.alias("m:3", "production")
    dk.models.alias("m:3", "canary")
    dk.models.alias("m:1", "old")
    for tag in ("m", "m:latest", "m:3", "m:production", "m:canary"):
        got = dk.models.get(tag)
        assert (got.version, got.aliases) == (3, ("canary", "production"))
    assert dk.models.get("m:old").aliases == ("old",) and dk.models.get("m:2").aliases == ()
    assert dk.models.get("m:old").load() == 0


def test_a_model_whose_versions_are_all_deleted_has_no_latest() -> None:
    dk.models.save("m", 1)
    dk.models.delete("m:1")
    with pytest.raises(NotFoundError, match="model 'm' has no versions"):
        dk.models.get("m:latest")


@pytest.mark.parametrize("ref", ["99999999999999999999999", str(2**63), "9" * 5000, "²", "١"])
def test_a_version_number_no_store_can_hold_is_not_found(ref: str) -> None:
    dk.models.save("m", 1)
    with pytest.raises(NotFoundError, match=f"model 'm' has no version or alias '{ref}'"):
        dk.models.get(f"m:{ref}")
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        dk.models.get(f"nope:{ref}")
