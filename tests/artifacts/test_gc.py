"""Garbage below the dosirak home: what is an orphan, what is never touched, and removing it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import dosirak as dk
from dosirak import process
from dosirak.artifacts.gc import UNOWNED_GRACE_S, Roots, collect, sweep_abandoned
from dosirak.artifacts.store import LocalArtifactStore
from dosirak.metadata.store import MetadataStore, get_store
from dosirak.settings import get_settings
from tests._pipelines.measure import measure

LATER = time.time() + 2 * UNOWNED_GRACE_S


def _new_run(store: MetadataStore, status: str) -> str:
    """A run recorded by this (live) process, left ``running`` or closed with ``status``."""
    run_id = str(uuid.uuid4())
    store.runs.create_run(run_id=run_id, name=f"r-{run_id[:8]}", pipeline_name="p", parameters={}, config={}, dag={},
                     stack_name=None, orchestrator=None, steps=[])
    if status != "running":
        store.runs.finish_run(run_id, status=status)
    return run_id


def _put(directory: Path, size: int = 1000) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.bin").write_bytes(b"x" * size)
    return directory


def _dead_owner_tag() -> str:
    """The owner tag of a process that has exited."""
    code = "from dosirak import process; print(process.owner_tag())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _kinds(report: object) -> dict[str, int]:
    return {k: v["count"] for k, v in report.kinds().items() if v["count"]}  # type: ignore[attr-defined]


def test_a_staging_area_is_an_orphan_once_its_run_ended_and_never_while_it_runs() -> None:
    store, root = get_store(), get_settings().artifact_root
    ended, running = _new_run(store, "failed"), _new_run(store, "running")
    dead_area = _put(root / ".staging" / ended / "a1", 5000)
    live_area = _put(root / ".staging" / running / "b2", 7000)

    found = collect(store, Roots.of_home(), dry_run=True)
    assert [(o.kind, o.path, o.size) for o in found.orphans] == [("staging", str(dead_area.parent), 5000)]
    assert "is failed" in found.orphans[0].reason
    assert dead_area.exists()  # a dry run removes nothing

    removed = collect(store, Roots.of_home(), dry_run=False)
    assert removed.kinds()["staging"] == {"count": 1, "bytes": 5000} and removed.errors == ()
    assert not dead_area.parent.exists() and live_area.exists() and (root / ".staging").is_dir()


def test_an_output_no_row_names_is_an_orphan_and_recorded_outputs_and_logs_are_kept() -> None:
    run = measure()
    root = get_settings().artifact_root
    stray = _put(root / run.id / "words" / "extra", 300)
    legacy = _put(root / run.id / "words" / ".staging-0123", 200)
    report = collect(get_store(), Roots.of_home(), dry_run=False)
    assert sorted((o.kind, o.path) for o in report.orphans) == [("artifact", str(stray)), ("staging", str(legacy))]
    assert not stray.exists() and not legacy.exists()
    again = dk.Client().get_run(run.id)
    assert again.steps["words"].output.load() == ["x", "xx", "xxx"]
    assert "tallying" in again.steps["tally"].logs()
    assert collect(get_store(), Roots.of_home(), dry_run=False).orphans == ()


def test_a_run_directory_without_a_row_is_left_alone_for_the_grace_period() -> None:
    root = get_settings().artifact_root
    unknown = _put(root / str(uuid.uuid4()) / "step" / "output")
    not_a_run = _put(root / "my-notes")
    assert collect(get_store(), Roots.of_home(), dry_run=True).orphans == ()
    report = collect(get_store(), Roots.of_home(), dry_run=False, now=LATER)
    assert [(o.kind, o.path) for o in report.orphans] == [("artifact", str(unknown.parent.parent))]
    assert not unknown.exists() and not_a_run.exists()


def test_temporary_directories_go_when_their_process_is_gone_and_live_ones_stay() -> None:
    settings = get_settings()
    dead_model = _put(settings.models_root / ".tmp" / f"{_dead_owner_tag()}-{uuid.uuid4().hex}")
    live_model = _put(settings.models_root / ".tmp" / f"{process.owner_tag()}-{uuid.uuid4().hex}")
    old_style = _put(settings.bundles_root / ".tmp" / uuid.uuid4().hex)
    dead_bundle = _put(settings.bundles_root / ".tmp" / f"{_dead_owner_tag()}-{uuid.uuid4().hex}")
    assert _kinds(collect(get_store(), Roots.of_home(), dry_run=True)) == {"model-tmp": 1, "bundle-tmp": 1}
    report = collect(get_store(), Roots.of_home(), dry_run=False, now=LATER)
    assert sorted(o.path for o in report.orphans) == sorted(map(str, (dead_model, old_style, dead_bundle)))
    assert live_model.exists() and not dead_model.exists() and not old_style.exists()


def test_a_model_version_directory_no_row_names_is_removed_and_recorded_versions_stay() -> None:
    kept = dk.models.save("m", {"v": 1})
    stray = _put(get_settings().models_root / "m" / "2")
    report = collect(get_store(), Roots.of_home(), dry_run=False)
    assert [(o.kind, o.path) for o in report.orphans] == [("model", str(stray))]
    assert not stray.exists() and kept.path.exists()
    assert [p.name for p in (get_settings().models_root / ".tmp").iterdir()] == []  # set aside, then removed
    assert dk.models.save("m", {"v": 2}).load() == {"v": 2}  # the number is free again
    assert dk.models.get("m:1").load() == {"v": 1}


def test_a_bundle_directory_no_row_names_goes_only_after_the_grace_period() -> None:
    store = get_store()
    bundles = get_settings().bundles_root
    recorded = _put(bundles / "svc" / "1")
    store.bundles.create_bundle(bundle_id=str(uuid.uuid4()), name="svc", version="1", path=str(recorded), service="s:S",
                        created_at=datetime.now(UTC), size=1000, manifest_hash="0" * 64, labels={}, apis=[],
                        models=[])
    stray = _put(bundles / "svc" / "2")
    assert collect(store, Roots.of_home(), dry_run=True).orphans == ()  # it may be a build between move and row
    report = collect(store, Roots.of_home(), dry_run=False, now=LATER)
    assert [(o.kind, o.path) for o in report.orphans] == [("bundle", str(stray))]
    assert recorded.exists() and not stray.exists()


def test_symlinks_are_never_followed_and_nothing_outside_the_home_is_removed(tmp_path: Path) -> None:
    store, settings = get_store(), get_settings()
    outside = _put(tmp_path / "outside", 4096)
    ended = _new_run(store, "failed")
    area = settings.artifact_root / ".staging" / ended
    area.mkdir(parents=True)
    (area / "link").symlink_to(outside, target_is_directory=True)
    run_dir = settings.artifact_root / ended / "step"
    run_dir.mkdir(parents=True)
    (run_dir / "output").symlink_to(outside, target_is_directory=True)
    (settings.models_root / "m").mkdir(parents=True)
    (settings.models_root / "m" / "7").symlink_to(outside, target_is_directory=True)
    (settings.bundles_root / ".tmp").mkdir(parents=True)
    (settings.bundles_root / ".tmp" / f"{_dead_owner_tag()}-{uuid.uuid4().hex}").symlink_to(outside)

    report = collect(store, Roots.of_home(), dry_run=False, now=LATER)
    assert [(o.kind, o.size) for o in report.orphans] == [("staging", 0)]  # the area; its link is not followed
    assert (outside / "data.bin").stat().st_size == 4096
    assert (run_dir / "output").is_symlink() and (settings.models_root / "m" / "7").is_symlink()


def test_the_next_run_sweeps_ended_runs_and_leaves_running_ones() -> None:
    store = get_store()
    artifacts = LocalArtifactStore(str(get_settings().artifact_root))
    ended, running = _new_run(store, "failed"), _new_run(store, "running")
    partial = _put(Path(artifacts.root) / ".staging" / ended / "abc", 2048)
    unrecorded = _put(Path(artifacts.location(ended, "step", "output")), 512)
    live_partial = _put(Path(artifacts.root) / ".staging" / running / "def", 2048)
    live_output = _put(Path(artifacts.location(running, "step", "output")), 512)

    swept = sweep_abandoned(store, artifacts)
    assert sorted((o.kind, o.size) for o in swept) == [("artifact", 512), ("staging", 2048)]
    assert not partial.exists() and not unrecorded.exists() and not (Path(artifacts.root) / ended).exists()
    assert live_partial.exists() and live_output.exists()


def test_a_dry_run_reports_count_and_bytes_per_kind_as_json() -> None:
    store = get_store()
    ended = _new_run(store, "completed")
    _put(get_settings().artifact_root / ".staging" / ended / "x", 100)
    _put(get_settings().artifact_root / ended / "s" / "o", 50)
    data = collect(store, Roots.of_home(), dry_run=True).to_json()
    assert data["dry_run"] is True and data["errors"] == []
    assert data["kinds"]["staging"] == {"count": 1, "bytes": 100}
    assert data["kinds"]["artifact"] == {"count": 1, "bytes": 50}
    assert data["total"] == {"count": 2, "bytes": 150}
    assert {o["kind"] for o in data["orphans"]} == {"staging", "artifact"}
    assert os.path.exists(data["orphans"][0]["path"])


def test_a_model_save_or_bundle_build_in_progress_is_never_an_orphan() -> None:
    from dosirak.bundles import store as bundle_store
    from dosirak.models import store as model_store

    saving = _put(model_store.new_temp_dir(get_settings().models_root))
    building = _put(bundle_store.new_temp_dir())
    assert collect(get_store(), Roots.of_home(), dry_run=False, now=LATER).orphans == ()
    assert saving.exists() and building.exists()
