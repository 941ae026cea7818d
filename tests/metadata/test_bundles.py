"""Bundles in the metadata store: the container images built from them and where they were pushed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dosirak.errors import BundleError, NotFoundError
from dosirak.metadata.records import BundleRecord
from dosirak.metadata.store import MetadataStore, get_store

DIGEST = "sha256:" + "a" * 64


def new_bundle(store: MetadataStore, name: str = "svc", version: str = "1") -> BundleRecord:
    return store.bundles.create_bundle(bundle_id=str(uuid.uuid4()), name=name, version=version, path=f"/b/{name}/{version}",
                               service="s.py:S", created_at=datetime.now(UTC), size=0, manifest_hash="0" * 64,
                               labels={}, apis=[], models=[])


def test_an_image_is_recorded_against_its_bundle_and_listed_newest_first() -> None:
    store = get_store()
    bundle, other = new_bundle(store), new_bundle(store, "other")
    built = store.bundles.record_image(bundle_id=bundle.id, reference="localhost/svc:1", location="local", digest=DIGEST,
                               image_id="b" * 64, builder="buildah", size=123, base_image="localhost/base:1")
    pushed = store.bundles.record_image(bundle_id=bundle.id, reference="127.0.0.1:5000/svc@" + DIGEST, location="registry",
                                digest=DIGEST, builder="buildah", size=123, base_image="localhost/base:1")
    store.bundles.record_image(bundle_id=other.id, reference="localhost/other:1", location="local", digest=DIGEST,
                       builder="podman", size=1, base_image="b")
    images = store.bundles.list_images(bundle.id)
    assert [i.id for i in images] == [pushed.id, built.id]
    assert built.bundle_tag == "svc:1" and built.size == 123 and built.builder == "buildah"
    assert built.created_at.tzinfo is not None and built.image_id == "b" * 64
    assert {i.bundle_tag for i in store.bundles.list_images()} == {"svc:1", "other:1"}


def test_rebuilding_under_the_same_reference_replaces_that_row() -> None:
    store = get_store()
    bundle = new_bundle(store)
    first = store.bundles.record_image(bundle_id=bundle.id, reference="localhost/svc:1", location="local", digest=DIGEST,
                               builder="buildah", size=1, base_image="b")
    second = store.bundles.record_image(bundle_id=bundle.id, reference="localhost/svc:1", location="local",
                                digest="sha256:" + "c" * 64, builder="podman", size=2, base_image="b")
    assert [i.id for i in store.bundles.list_images(bundle.id)] == [second.id]
    assert second.id != first.id and second.digest.endswith("c" * 64)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("location", "moon", "location"),
    ("digest", "md5:abc", "digest"),
    ("reference", "", "reference"),
    ("reference", "a" * 5000, "reference"),
])
def test_an_image_with_a_bad_field_is_refused(field: str, value: str, message: str) -> None:
    store = get_store()
    bundle = new_bundle(store)
    values = {"reference": "localhost/svc:1", "location": "local", "digest": DIGEST}
    values[field] = value
    with pytest.raises(BundleError, match=message):
        store.bundles.record_image(bundle_id=bundle.id, builder="buildah", size=1, base_image="b", **values)
    assert store.bundles.list_images(bundle.id) == []


def test_an_image_of_an_unknown_bundle_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="no bundle"):
        get_store().bundles.record_image(bundle_id="nope", reference="localhost/svc:1", location="local", digest=DIGEST,
                                 builder="buildah", size=1, base_image="b")


def test_deleting_a_bundle_forgets_its_images() -> None:
    store = get_store()
    bundle = new_bundle(store)
    store.bundles.record_image(bundle_id=bundle.id, reference="localhost/svc:1", location="local", digest=DIGEST,
                       builder="buildah", size=1, base_image="b")
    store.bundles.delete_bundle("svc", "1")
    assert store.bundles.list_images() == []
