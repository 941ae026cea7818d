"""``dosirak.disk``: a directory that cannot be written, and a pseudo-filesystem that is not "full"."""

from __future__ import annotations

from pathlib import Path

from dosirak import disk


def test_a_directory_that_can_be_made_is_writable_and_the_check_leaves_no_trace(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert disk.unwritable(target, keep=False) is None
    assert not (tmp_path / "a").exists()
    assert disk.unwritable(target, keep=True) is None
    assert target.is_dir() and list(target.iterdir()) == []


def test_a_path_under_proc_cannot_be_created() -> None:
    problem = disk.unwritable("/proc/nope/artifacts", keep=False)
    assert problem is not None and problem.startswith("cannot create it"), problem


def test_a_path_below_a_file_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert disk.unwritable(tmp_path / "file" / "sub", keep=False) == f"{tmp_path / 'file'} is not a directory"
    assert disk.unwritable(tmp_path / "file", keep=False) == f"{tmp_path / 'file'} is not a directory"


def test_a_read_only_filesystem_cannot_be_written_in() -> None:
    problem = disk.unwritable("/proc/self", keep=False)
    assert problem is not None and problem.startswith("cannot write in it"), problem


def test_a_pseudo_filesystem_is_never_called_full() -> None:
    assert disk.free_bytes("/proc/nope") is None
    assert not disk.is_full("/proc/nope/artifacts")
