from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from dosirak.models import store


def _one_dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, allow_unicode=True)


@pytest.mark.parametrize("handler", [
    {"weights": "w.safetensors", "architecture": {"kind": "spec", "spec": {"class": "a:B", "args": [1, 2.5]}}},
    {"n": 1}, {"n": 1.0}, {"n": True}, {"n": "é"}, {}, [], None,
])
def test_model_yaml_text_is_the_text_of_one_dump_and_cached_entries_keep_their_types(handler: Any) -> None:
    data = {"format_version": 1, "name": "m", "files": {"w": {"sha256": "0" * 64, "size": 3}},
            "handler": handler, "metrics": {"acc": 1e-05}, "lineage": {"run_id": None}}
    for _ in range(2):  # the second time the handler entry comes from the cache
        text = store.model_yaml_text(data)
        assert text == _one_dump(data)
        assert yaml.safe_load(text) == data


def test_model_yaml_text_without_cached_entries_or_only_them() -> None:
    assert store.model_yaml_text({"a": 1}) == _one_dump({"a": 1})
    assert store.model_yaml_text({"handler": {"x": [1]}}) == _one_dump({"handler": {"x": [1]}})
    assert store.model_yaml_text({}) == _one_dump({})


def test_hash_files_uses_a_remembered_digest_only_for_the_unchanged_file(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"abc")
    store.remember_digest(path, "f" * 64)
    assert store.hash_files(tmp_path)["w.bin"] == {"sha256": "f" * 64, "size": 3}
    # used once: the next call reads the file
    assert store.hash_files(tmp_path)["w.bin"]["sha256"] == hashlib.sha256(b"abc").hexdigest()

    store.remember_digest(path, "f" * 64)
    path.write_bytes(b"abcd")  # rewritten after the digest was noted: size and mtime differ
    os.utime(path, ns=(1, 1))
    assert store.hash_files(tmp_path)["w.bin"]["sha256"] == hashlib.sha256(b"abcd").hexdigest()
