"""Bundles, the model versions they carry and their images, in the metadata store (SQL text on its driver)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dosirak.errors import BundleError, NotFoundError
from dosirak.metadata import tables
from dosirak.metadata.database import Concept
from dosirak.metadata.driver import Cursor, Row, in_list
from dosirak.metadata.records import BundleRecord, ImageRecord, from_row
from dosirak.metadata.timeutil import utcnow
from dosirak.names import check_name
from dosirak.statuses import ENDED_DEPLOYMENT_STATUSES

#: Where an image lives: a builder's local storage, or a registry it was pushed to.
IMAGE_LOCATIONS = ("local", "registry")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_REFERENCE = 1024


def _image_from_row(row: Row) -> ImageRecord:
    return from_row(ImageRecord, row, bundle_tag=f"{row['bundle_name']}:{row['bundle_version']}")


_IMAGES = ("SELECT bundle_images.*, bundles.name AS bundle_name, bundles.version AS bundle_version "
           "FROM bundle_images JOIN bundles ON bundles.id = bundle_images.bundle_id ")
_BUNDLE_BY_ID = "SELECT * FROM bundles WHERE id = :id"
_INSERT_BUNDLE = tables.BUNDLES.insert_sql()
_INSERT_LINK = tables.BUNDLE_MODELS.insert_sql()
_INSERT_IMAGE = tables.BUNDLE_IMAGES.insert_sql()


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
        wanted = list(dict.fromkeys(model_version_ids))
        with self.sql.write() as cur:
            if cur.execute("SELECT id FROM bundles WHERE name = :name AND version = :version",
                           {"name": name, "version": version}):
                raise BundleError(f"bundle {name}:{version} already exists; `dosirak bundle delete {name}:{version}` first")
            cur.execute(_INSERT_BUNDLE, tables.BUNDLES.row(dict(
                id=bundle_id, name=name, version=version, path=path, service=service, created_at=created_at,
                size=size, manifest_hash=manifest_hash, labels=labels, apis=apis, models=models,
                run_id=run_id, step_run_id=step_run_id, imported=imported, extra=extra or {},
            )))
            if wanted:
                in_ids, params = in_list("version", wanted)
                known = {r["id"] for r in cur.execute(f"SELECT id FROM model_versions WHERE id IN {in_ids}", params)}
                links = [{"bundle_id": bundle_id, "model_version_id": vid} for vid in wanted if vid in known]
                if links:
                    cur.executemany(_INSERT_LINK, links)
            row = cur.execute(_BUNDLE_BY_ID, {"id": bundle_id})[0]
        return from_row(BundleRecord, row)

    @staticmethod
    def _bundle_row(cur: Cursor, name: str, version: str) -> Row:
        if version in ("", "latest"):
            rows = cur.execute("SELECT * FROM bundles WHERE name = :name ORDER BY version DESC LIMIT 1",
                               {"name": name})
        else:
            rows = cur.execute("SELECT * FROM bundles WHERE name = :name AND version = :version",
                               {"name": name, "version": version})
        if not rows:
            if version in ("", "latest"):
                raise NotFoundError(f"no bundle named '{name}'; `dosirak bundle list` shows the known ones")
            raise NotFoundError(f"bundle '{name}' has no version '{version}'; `dosirak bundle list` shows the known ones")
        return rows[0]

    def get_bundle(self, name: str, version: str = "latest") -> BundleRecord:
        """A bundle by ``name`` and version (``latest`` is the newest; versions sort by time)."""
        with self.sql.read() as cur:
            return from_row(BundleRecord, self._bundle_row(cur, name, version))

    def get_bundle_by_id(self, bundle_id: str) -> BundleRecord:
        with self.sql.read() as cur:
            rows = cur.execute(_BUNDLE_BY_ID, {"id": bundle_id})
        if not rows:
            raise NotFoundError(f"no bundle with id '{bundle_id}'")
        return from_row(BundleRecord, rows[0])

    def list_bundles(self, name: str | None = None) -> list[BundleRecord]:
        """Bundles, newest first (optionally only those called ``name``)."""
        where, params = ("WHERE name = :name ", {"name": name}) if name is not None else ("", {})
        with self.sql.read() as cur:
            rows = cur.execute(f"SELECT * FROM bundles {where}ORDER BY name, version DESC", params)
        return [from_row(BundleRecord, r) for r in rows]

    def bundles_with_model_version(self, version_id: str) -> list[BundleRecord]:
        with self.sql.read() as cur:
            rows = cur.execute("SELECT bundles.* FROM bundles JOIN bundle_models ON bundle_models.bundle_id = bundles.id "
                               "WHERE bundle_models.model_version_id = :version_id", {"version_id": version_id})
        return [from_row(BundleRecord, r) for r in rows]

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
        with self.sql.write() as cur:
            if not cur.execute("SELECT id FROM bundles WHERE id = :id", {"id": bundle_id}):
                raise NotFoundError(f"no bundle with id '{bundle_id}' to record image {reference} against")
            cur.execute("DELETE FROM bundle_images WHERE bundle_id = :bundle_id AND reference = :reference",
                        {"bundle_id": bundle_id, "reference": reference})
            cur.execute(_INSERT_IMAGE, tables.BUNDLE_IMAGES.row(dict(
                id=image_key, bundle_id=bundle_id, reference=reference, location=location, digest=digest,
                image_id=image_id, builder=builder, size=size, base_image=base_image, created_at=utcnow(),
                extra=extra or {},
            )))
            row = cur.execute(_IMAGES + "WHERE bundle_images.id = :id", {"id": image_key})[0]
        return _image_from_row(row)

    def list_images(self, bundle_id: str | None = None) -> list[ImageRecord]:
        """Images recorded against one bundle (or every bundle), newest first."""
        where, params = ("WHERE bundle_images.bundle_id = :bundle_id ", {"bundle_id": bundle_id}) \
            if bundle_id is not None else ("", {})
        with self.sql.read() as cur:
            rows = cur.execute(_IMAGES + where + "ORDER BY bundle_images.created_at DESC, bundle_images.id", params)
        return [_image_from_row(r) for r in rows]

    def delete_bundle(self, name: str, version: str) -> BundleRecord:
        """Forget a bundle; refused while a deployment that is not stopped uses it."""
        with self.sql.write() as cur:
            row = self._bundle_row(cur, name, version)
            in_ended, params = in_list("ended", ENDED_DEPLOYMENT_STATUSES)
            users = cur.execute(f"SELECT name, status FROM deployments WHERE bundle_id = :bundle_id "
                                f"AND status NOT IN {in_ended}", {**params, "bundle_id": row["id"]})
            if users:
                names = ", ".join(f"{u['name']} ({u['status']})" for u in users)
                raise BundleError(
                    f"cannot delete bundle {row['name']}:{row['version']}: used by deployment(s) {names}; stop them first"
                )
            # stopped deployments keep their history but no longer point at the bundle's row
            key = {"bundle_id": row["id"]}
            cur.execute("UPDATE deployments SET bundle_id = NULL WHERE bundle_id = :bundle_id", key)
            cur.execute("DELETE FROM bundle_models WHERE bundle_id = :bundle_id", key)
            cur.execute("DELETE FROM bundle_images WHERE bundle_id = :bundle_id", key)
            cur.execute("DELETE FROM bundles WHERE id = :bundle_id", key)
        return from_row(BundleRecord, row)


__all__ = ["Bundles"]
