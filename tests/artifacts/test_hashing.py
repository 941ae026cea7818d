"""Content hashes: equal trees hash equal wherever they are; any rename, addition or edit changes the hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dosirak.artifacts.hashing import hash_file, hash_tree


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.bin").write_bytes(b"\x00" * 10)
    return root


def test_hash_file_is_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    assert hash_file(path) == hashlib.sha256(b"hello").hexdigest()


def test_equal_trees_in_different_places_hash_equal_and_report_their_size(tmp_path: Path) -> None:
    one, size_one = hash_tree(make_tree(tmp_path / "one"))
    two, size_two = hash_tree(make_tree(tmp_path / "two"))
    assert one == two
    assert size_one == size_two == 15


def test_editing_renaming_or_adding_a_file_changes_the_hash(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    original, _ = hash_tree(root)
    (root / "a.txt").write_text("alphA")
    edited, _ = hash_tree(root)
    (root / "a.txt").rename(root / "c.txt")
    renamed, _ = hash_tree(root)
    (root / "extra").write_text("")
    added, _ = hash_tree(root)
    assert len({original, edited, renamed, added}) == 4


def test_moving_bytes_between_files_changes_the_hash(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.mkdir()
    (a / "x").write_text("ab")
    (a / "y").write_text("c")
    b = tmp_path / "b"
    b.mkdir()
    (b / "x").write_text("a")
    (b / "y").write_text("bc")
    assert hash_tree(a)[0] != hash_tree(b)[0]
