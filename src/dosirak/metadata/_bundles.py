"""Bundles and the model versions they carry, in the metadata store."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection, Row

from dosirak.errors import BundleError, NotFoundError
from dosirak.metadata import schema as t
from dosirak.metadata.database import Concept
from dosirak.metadata.records import BundleRecord, ImageRecord, from_row
from dosirak.metadata.timeutil import utcnow
from dosirak.names import check_name
from dosirak.statuses import ENDED_DEPLOYMENT_STATUSES

#: Where an image lives: a builder's local storage, or a registry it was pushed to.
IMAGE_LOCATIONS = ("local", "registry")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_REFERENCE = 1024


def _image_from_row(row: Row[Any]) -> ImageRecord:
    m = row._mapping
    return from_row(ImageRecord, m, bundle_tag=f"{m['bundle_name']}:{m['bundle_version']}")


def _image_query() -> Any:
    return select(*t.bundle_images.c, t.bundles.c.name.label("bundle_name"),
                  t.bundles.c.version.label("bundle_version")).join(
        t.bundles, t.bundles.c.id == t.bundle_images.c.bundle_id)


class Bundles(Concept):
    """Store operations on bundles."""


    def create_bundle(
        self,
        *,
        bundle_id: str,
        name: str,
        version: str,
        path: str,
        service: str,
        created_at: datetime,
        size: int,
        manifest_hash: str,
        labels: dict[str, Any],
        apis: list[Any],
        models: list[Any],
        model_version_ids: Sequence[str] = (),
        run_id: str | None = None,
        step_run_id: str | None = None,
        imported: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> BundleRecord:
        """Record a bundle already in place, linked to the local model versions it carries."""
        check_name(name, "bundle name", error=BundleError)
        check_name(version, "bundle version", error=BundleError)
        with self._write() as conn:
            clash = conn.execute(select(t.bundles.c.id).where(
                t.bundles.c.name == name, t.bundles.c.version == version)).scalar()
            if clash is not None:
                raise BundleError(f"bundle {name}:{version} already exists; `dosirak bundle delete {name}:{version}` first")
            conn.execute(insert(t.bundles).values(
                id=bundle_id, name=name, version=version, path=path, service=service, created_at=created_at,
                size=size, manifest_hash=manifest_hash, labels=labels, apis=apis, models=models,
                run_id=run_id, step_run_id=step_run_id, imported=imported, extra=extra or {},
            ))
            known = set(conn.execute(select(t.model_versions.c.id).where(
                t.model_versions.c.id.in_(list(model_version_ids)))).scalars().all())
            links = [{"bundle_id": bundle_id, "model_version_id": vid} for vid in dict.fromkeys(model_version_ids)
                     if vid in known]
            if links:
                conn.execute(insert(t.bundle_models), links)
            row = conn.execute(select(*t.bundles.c).where(t.bundles.c.id == bundle_id)).one()
        return from_row(BundleRecord, row._mapping)

    @staticmethod
    def _bundle_row(conn: Connection, name: str, version: str) -> Row[Any]:
        query = select(*t.bundles.c).where(t.bundles.c.name == name)
        if version in ("", "latest"):
            query = query.order_by(t.bundles.c.version.desc()).limit(1)
        else:
            query = query.where(t.bundles.c.version == version)
        row = conn.execute(query).first()
        if row is None:
            if version in ("", "latest"):
                raise NotFoundError(f"no bundle named '{name}'; `dosirak bundle list` shows the known ones")
            raise NotFoundError(f"bundle '{name}' has no version '{version}'; `dosirak bundle list` shows the known ones")
        return row

    def get_bundle(self, name: str, version: str = "latest") -> BundleRecord:
        """A bundle by ``name`` and version (``latest`` is the newest; versions sort by time)."""
        with self._read() as conn:
            return from_row(BundleRecord, self._bundle_row(conn, name, version)._mapping)

    def get_bundle_by_id(self, bundle_id: str) -> BundleRecord:
        with self._read() as conn:
            row = conn.execute(select(*t.bundles.c).where(t.bundles.c.id == bundle_id)).first()
        if row is None:
            raise NotFoundError(f"no bundle with id '{bundle_id}'")
        return from_row(BundleRecord, row._mapping)

    def list_bundles(self, name: str | None = None) -> list[BundleRecord]:
        """Bundles, newest first (optionally only those called ``name``)."""
        query = select(*t.bundles.c).order_by(t.bundles.c.name, t.bundles.c.version.desc())
        if name is not None:
            query = query.where(t.bundles.c.name == name)
        with self._read() as conn:
            return [from_row(BundleRecord, r._mapping) for r in conn.execute(query).all()]

    def bundles_with_model_version(self, version_id: str) -> list[BundleRecord]:
        with self._read() as conn:
            rows = conn.execute(select(*t.bundles.c).join(
                t.bundle_models, t.bundle_models.c.bundle_id == t.bundles.c.id
            ).where(t.bundle_models.c.model_version_id == version_id)).all()
        return [from_row(BundleRecord, r._mapping) for r in rows]

    def record_image(
        self,
        *,
        bundle_id: str,
        reference: str,
        location: str,
        digest: str,
        builder: str,
        size: int,
        base_image: str,
        image_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ImageRecord:
        """Record a container image of a bundle; one row per bundle and reference (a rebuild replaces it).

        Raises:
            BundleError: a field is malformed (location, digest, reference).
            NotFoundError: no bundle has ``bundle_id``.
        """
        if location not in IMAGE_LOCATIONS:
            raise BundleError(f"image location {location!r} is not one of {', '.join(IMAGE_LOCATIONS)}")
        if not _DIGEST.fullmatch(digest):
            raise BundleError(f"image digest {digest[:80]!r} is not sha256:<64 hex digits>")
        if not reference or len(reference) > _MAX_REFERENCE or not reference.isprintable() or " " in reference:
            raise BundleError(f"image reference {reference[:80]!r} is empty, too long or holds spaces")
        image_key = str(uuid.uuid4())
        with self._write() as conn:
            if conn.execute(select(t.bundles.c.id).where(t.bundles.c.id == bundle_id)).scalar() is None:
                raise NotFoundError(f"no bundle with id '{bundle_id}' to record image {reference} against")
            conn.execute(delete(t.bundle_images).where(t.bundle_images.c.bundle_id == bundle_id,
                                                       t.bundle_images.c.reference == reference))
            conn.execute(insert(t.bundle_images).values(
                id=image_key, bundle_id=bundle_id, reference=reference, location=location, digest=digest,
                image_id=image_id, builder=builder, size=size, base_image=base_image, created_at=utcnow(),
                extra=extra or {},
            ))
            row = conn.execute(_image_query().where(t.bundle_images.c.id == image_key)).one()
        return _image_from_row(row)

    def list_images(self, bundle_id: str | None = None) -> list[ImageRecord]:
        """Images recorded against one bundle (or every bundle), newest first."""
        query = _image_query().order_by(t.bundle_images.c.created_at.desc(), t.bundle_images.c.id)
        if bundle_id is not None:
            query = query.where(t.bundle_images.c.bundle_id == bundle_id)
        with self._read() as conn:
            return [_image_from_row(r) for r in conn.execute(query).all()]

    def delete_bundle(self, name: str, version: str) -> BundleRecord:
        """Forget a bundle; refused while a deployment that is not stopped uses it."""
        with self._write() as conn:
            row = self._bundle_row(conn, name, version)
            users = conn.execute(select(t.deployments.c.name, t.deployments.c.status).where(
                t.deployments.c.bundle_id == row.id,
                t.deployments.c.status.not_in(ENDED_DEPLOYMENT_STATUSES))).all()
            if users:
                names = ", ".join(f"{n} ({s})" for n, s in users)
                raise BundleError(
                    f"cannot delete bundle {row.name}:{row.version}: used by deployment(s) {names}; stop them first"
                )
            # stopped deployments keep their history but no longer point at the bundle's row
            conn.execute(t.deployments.update().where(t.deployments.c.bundle_id == row.id).values(bundle_id=None))
            conn.execute(delete(t.bundle_models).where(t.bundle_models.c.bundle_id == row.id))
            conn.execute(delete(t.bundle_images).where(t.bundle_images.c.bundle_id == row.id))
            conn.execute(delete(t.bundles).where(t.bundles.c.id == row.id))
        return from_row(BundleRecord, row._mapping)


__all__ = ["Bundles"]
