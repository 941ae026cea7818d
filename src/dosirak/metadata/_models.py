"""Models, model versions and aliases (with their history) in the metadata store."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from dosirak.errors import ModelError, NotFoundError
from dosirak.metadata import schema as t
from dosirak.metadata.database import Concept, inserted_id
from dosirak.metadata.like import MAX_SQL_INTEGER
from dosirak.metadata.records import AliasMoveRecord, ModelRecord, ModelVersionRecord, from_row
from dosirak.metadata.timeutil import as_utc, utcnow
from dosirak.names import check_name
from dosirak.statuses import ENDED_DEPLOYMENT_STATUSES

_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def check_model_name(name: str) -> None:
    """Model names follow the one name grammar (:mod:`dosirak.names`)."""
    check_name(name, "model name", error=ModelError)


def is_version_number(ref: str) -> bool:
    """Whether ``ref`` names a version by number: ASCII digits of an integer a store can hold.

    Anything else (``²``, a number beyond :data:`MAX_SQL_INTEGER`) is looked up as an alias,
    which finds nothing, so it is "not found" rather than a crash in the database driver.
    """
    return ref.isascii() and ref.isdigit() and len(ref) <= 19 and int(ref) <= MAX_SQL_INTEGER


def check_alias(alias: str) -> None:
    """Aliases start with a letter; ``latest`` is computed, never set."""
    if alias == "latest" or not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise ModelError(
            f"invalid alias '{alias}': use up to 64 letters, digits, '_', '-' or '.', starting with a "
            "letter ('latest' is reserved: it always means the newest version)"
        )


def _version_from_row(row: Row[Any], aliases: tuple[str, ...] = ()) -> ModelVersionRecord:
    return from_row(ModelVersionRecord, row._mapping, name=row._mapping["model_name"], aliases=aliases)


_VERSION_COLUMNS = (*t.model_versions.c, t.models.c.name.label("model_name"))

# Statements on the save and load hot paths are built once; values travel as parameters.
_MODEL_AND_LAST_VERSION = (
    select(t.models.c.id, func.max(t.model_versions.c.version))
    .select_from(t.models.outerjoin(t.model_versions, t.model_versions.c.model_id == t.models.c.id))
    .where(t.models.c.name == bindparam("name"))
    .group_by(t.models.c.id)
)
_INSERT_MODEL = insert(t.models)
_INSERT_VERSION = insert(t.model_versions)
_VERSION_BY_ID = select(*_VERSION_COLUMNS).join(t.models).where(t.model_versions.c.id == bindparam("version_id"))


def _version_with_aliases(ref_kind: str) -> Any:
    """One query for a version and its aliases (one row per alias, or one with alias NULL).

    ``ref_kind`` is ``latest``, ``number`` (bind ``version``) or ``alias`` (bind ``alias``);
    the model is bound as ``name``.
    """
    mv, listed = t.model_versions, t.model_aliases.alias("listed")
    source = mv.join(t.models, t.models.c.id == mv.c.model_id)
    if ref_kind == "alias":
        named = t.model_aliases.alias("named")
        source = source.join(named, (named.c.model_version_id == mv.c.id) & (named.c.model_id == mv.c.model_id))
    source = source.outerjoin(listed, listed.c.model_version_id == mv.c.id)
    query = select(*_VERSION_COLUMNS, listed.c.alias.label("listed_alias")).select_from(source).where(
        t.models.c.name == bindparam("name"))
    if ref_kind == "latest":
        newest = t.model_versions.alias("newest")
        query = query.where(mv.c.version == select(func.max(newest.c.version)).where(
            newest.c.model_id == mv.c.model_id).scalar_subquery())
    elif ref_kind == "number":
        query = query.where(mv.c.version == bindparam("version"))
    else:
        query = query.where(named.c.alias == bindparam("alias"))
    return query.order_by(listed.c.alias)


_GET_VERSION = {kind: _version_with_aliases(kind) for kind in ("latest", "number", "alias")}


class Models(Concept):
    """Store operations on the model registry."""


    # -- writes ---------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        *,
        framework: str,
        place: Callable[[int, str], str],
        files: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        labels: dict[str, Any] | None = None,
        signatures: dict[str, Any] | None = None,
        libraries: dict[str, str] | None = None,
        run_id: str | None = None,
        step_run_id: str | None = None,
        artifact_id: str | None = None,
        trusted: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> ModelVersionRecord:
        """Record the next version of ``name`` (creating the model), in one transaction.

        ``place(version, version_id)`` is called inside the transaction once the version
        number is known; it moves the files into place and returns their URI. If it raises,
        nothing is recorded.
        """
        check_model_name(name)
        version_id = str(uuid.uuid4())
        with self._write() as conn:
            found = conn.execute(_MODEL_AND_LAST_VERSION, {"name": name}).first()
            if found is None:
                model_id = inserted_id(conn.execute(_INSERT_MODEL, {"name": name, "created_at": utcnow(), "extra": {}}))
                current = None
            else:
                model_id, current = int(found[0]), found[1]
            version = int(current or 0) + 1
            uri = place(version, version_id)
            conn.execute(_INSERT_VERSION, {
                "id": version_id, "model_id": model_id, "version": version, "framework": framework, "uri": uri,
                "created_at": utcnow(), "metadata": metadata or {}, "metrics": metrics or {}, "labels": labels or {},
                "signatures": signatures or {}, "libraries": libraries or {}, "files": files, "run_id": run_id,
                "step_run_id": step_run_id, "artifact_id": artifact_id, "trusted": trusted, "extra": extra or {},
            })
            row = conn.execute(_VERSION_BY_ID, {"version_id": version_id}).one()
        return _version_from_row(row)

    def _model_id(self, conn: Connection, name: str, *, create: bool = False) -> int:
        found = conn.execute(select(t.models.c.id).where(t.models.c.name == name)).scalar()
        if found is not None:
            return int(found)
        if not create:
            raise NotFoundError(f"no model named '{name}'; `dosirak model list` shows the known ones")
        result = conn.execute(insert(t.models).values(name=name, created_at=utcnow(), extra={}))
        return inserted_id(result)

    def set_model_alias(self, name: str, alias: str, version: int, *, actor: str | None = None) -> AliasMoveRecord:
        """Point ``alias`` at ``version`` of ``name``; the move is kept in the alias history."""
        check_alias(alias)
        now = utcnow()
        with self._write() as conn:
            model_id = self._model_id(conn, name)
            target = self._version_row(conn, model_id, name, str(version))
            previous = conn.execute(select(t.model_aliases.c.model_version_id).where(
                t.model_aliases.c.model_id == model_id, t.model_aliases.c.alias == alias)).scalar()
            if previous is None:
                conn.execute(insert(t.model_aliases).values(
                    model_id=model_id, alias=alias, model_version_id=target.id, updated_at=now))
            else:
                conn.execute(update(t.model_aliases).where(
                    t.model_aliases.c.model_id == model_id, t.model_aliases.c.alias == alias
                ).values(model_version_id=target.id, updated_at=now))
            conn.execute(insert(t.model_alias_history).values(
                model_id=model_id, alias=alias, from_version_id=previous, to_version_id=target.id,
                moved_at=now, actor=actor))
            from_version = self._version_number(conn, previous)
        return AliasMoveRecord(alias=alias, from_version=from_version, to_version=target.version,
                               moved_at=now, actor=actor)

    def remove_model_alias(self, name: str, alias: str, *, actor: str | None = None) -> None:
        """Remove an alias (kept in the history as a move to nothing)."""
        with self._write() as conn:
            model_id = self._model_id(conn, name)
            previous = conn.execute(select(t.model_aliases.c.model_version_id).where(
                t.model_aliases.c.model_id == model_id, t.model_aliases.c.alias == alias)).scalar()
            if previous is None:
                raise NotFoundError(f"model '{name}' has no alias '{alias}'; `dosirak model show {name}` lists them")
            self._drop_alias(conn, model_id, alias, previous, actor)

    @staticmethod
    def _drop_alias(conn: Connection, model_id: int, alias: str, previous: str, actor: str | None) -> None:
        conn.execute(delete(t.model_aliases).where(
            t.model_aliases.c.model_id == model_id, t.model_aliases.c.alias == alias))
        conn.execute(insert(t.model_alias_history).values(
            model_id=model_id, alias=alias, from_version_id=previous, to_version_id=None,
            moved_at=utcnow(), actor=actor))

    def delete_model_version(self, name: str, version: int) -> ModelVersionRecord:
        """Forget one version (its aliases are removed); refused while a bundle or deployment uses it."""
        with self._write() as conn:
            model_id = self._model_id(conn, name)
            row = self._version_row(conn, model_id, name, str(version))
            self._refuse_if_used(conn, [(row.id, f"{name}:{row.version}")])
            record = _version_from_row(row)
            for alias, in conn.execute(select(t.model_aliases.c.alias).where(
                    t.model_aliases.c.model_version_id == row.id)).all():
                self._drop_alias(conn, model_id, alias, row.id, "delete")
            conn.execute(delete(t.model_versions).where(t.model_versions.c.id == row.id))
            # the alias history keeps naming the deleted version by its number
            extra = dict(conn.execute(select(t.models.c.extra).where(t.models.c.id == model_id)).scalar() or {})
            extra["deleted_versions"] = {**extra.get("deleted_versions", {}), row.id: row.version}
            conn.execute(update(t.models).where(t.models.c.id == model_id).values(extra=extra))
        return record

    def delete_model(self, name: str) -> list[ModelVersionRecord]:
        """Forget a model and every version; refused while a bundle or deployment uses any."""
        with self._write() as conn:
            model_id = self._model_id(conn, name)
            rows = conn.execute(select(*_VERSION_COLUMNS).join(t.models).where(
                t.model_versions.c.model_id == model_id)).all()
            self._refuse_if_used(conn, [(r.id, f"{name}:{r.version}") for r in rows])
            conn.execute(delete(t.model_aliases).where(t.model_aliases.c.model_id == model_id))
            conn.execute(delete(t.model_alias_history).where(t.model_alias_history.c.model_id == model_id))
            conn.execute(delete(t.model_versions).where(t.model_versions.c.model_id == model_id))
            conn.execute(delete(t.models).where(t.models.c.id == model_id))
        return [_version_from_row(r) for r in rows]

    @staticmethod
    def _refuse_if_used(conn: Connection, versions: list[tuple[str, str]]) -> None:
        ids = [vid for vid, _ in versions]
        if not ids:
            return
        tags = dict(versions)
        users: list[str] = []
        for vid, bname, bversion in conn.execute(
            select(t.bundle_models.c.model_version_id, t.bundles.c.name, t.bundles.c.version)
            .join(t.bundles, t.bundles.c.id == t.bundle_models.c.bundle_id)
            .where(t.bundle_models.c.model_version_id.in_(ids))
        ).all():
            users.append(f"bundle {bname}:{bversion} (uses {tags[vid]})")
        for vid, dname, status in conn.execute(
            select(t.deployments.c.model_version_id, t.deployments.c.name, t.deployments.c.status)
            .where(t.deployments.c.model_version_id.in_(ids),
                   t.deployments.c.status.not_in(ENDED_DEPLOYMENT_STATUSES))
        ).all():
            users.append(f"deployment {dname} ({status}, uses {tags[vid]})")
        if users:
            raise ModelError(
                f"cannot delete: in use by {'; '.join(sorted(users))}; delete those bundles "
                "(`dosirak bundle delete TAG`) or stop those deployments first"
            )

    # -- reads ----------------------------------------------------------------------
    def _version_row(self, conn: Connection, model_id: int | None, name: str, ref: str) -> Row[Any]:
        """The row ``ref`` names; by ``model_id``, or by ``name`` in the same query when it is None."""
        source = t.model_versions.join(t.models, t.models.c.id == t.model_versions.c.model_id)
        if ref not in ("", "latest") and not is_version_number(ref):
            source = source.join(t.model_aliases, t.model_aliases.c.model_version_id == t.model_versions.c.id)
        query = select(*_VERSION_COLUMNS).select_from(source)
        query = query.where(t.models.c.name == name) if model_id is None else query.where(
            t.model_versions.c.model_id == model_id)
        if ref in ("", "latest"):
            query = query.order_by(t.model_versions.c.version.desc()).limit(1)
        elif is_version_number(ref):
            query = query.where(t.model_versions.c.version == int(ref))
        else:
            query = query.where(t.model_aliases.c.alias == ref)
        row = conn.execute(query).first()
        if row is None:
            if model_id is None:
                self._model_id(conn, name)  # "no model named ..." when that is the problem
            what = "has no versions" if ref in ("", "latest") else f"has no version or alias '{ref}'"
            raise NotFoundError(f"model '{name}' {what}; `dosirak model show {name}` lists its versions and aliases")
        return row

    @staticmethod
    def _version_number(conn: Connection, version_id: str | None) -> int | None:
        if version_id is None:
            return None
        found = conn.execute(select(t.model_versions.c.version).where(t.model_versions.c.id == version_id)).scalar()
        return None if found is None else int(found)

    @staticmethod
    def _aliases_of(conn: Connection, version_ids: list[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for vid, alias in conn.execute(select(t.model_aliases.c.model_version_id, t.model_aliases.c.alias)
                                       .where(t.model_aliases.c.model_version_id.in_(version_ids))
                                       .order_by(t.model_aliases.c.alias)).all():
            out.setdefault(vid, []).append(alias)
        return {k: tuple(v) for k, v in out.items()}

    def get_model_version(self, name: str, ref: str = "latest") -> ModelVersionRecord:
        """A version by number (``"3"``), alias (``"production"``) or ``"latest"``."""
        params: dict[str, Any]
        if ref in ("", "latest"):
            query, params = _GET_VERSION["latest"], {"name": name}
        elif is_version_number(ref):
            query, params = _GET_VERSION["number"], {"name": name, "version": int(ref)}
        else:
            query, params = _GET_VERSION["alias"], {"name": name, "alias": ref}
        with self._read() as conn:
            rows = conn.execute(query, params).all()
            if not rows:  # raises the NotFoundError that says what is missing (or finds a version just added)
                row = self._version_row(conn, None, name, ref)
                return _version_from_row(row, self._aliases_of(conn, [row.id]).get(row.id, ()))
        aliases = tuple(r.listed_alias for r in rows if r.listed_alias is not None)
        return _version_from_row(rows[0], aliases)

    def get_model_version_by_id(self, version_id: str) -> ModelVersionRecord:
        with self._read() as conn:
            row = conn.execute(select(*_VERSION_COLUMNS).join(t.models).where(
                t.model_versions.c.id == version_id)).first()
            if row is None:
                raise NotFoundError(f"no model version with id '{version_id}'")
            aliases = self._aliases_of(conn, [row.id]).get(row.id, ())
        return _version_from_row(row, aliases)

    def list_model_versions(self, name: str) -> list[ModelVersionRecord]:
        """Every version of ``name``, newest first."""
        with self._read() as conn:
            model_id = self._model_id(conn, name)
            rows = conn.execute(select(*_VERSION_COLUMNS).join(t.models).where(
                t.model_versions.c.model_id == model_id).order_by(t.model_versions.c.version.desc())).all()
            aliases = self._aliases_of(conn, [r.id for r in rows])
        return [_version_from_row(r, aliases.get(r.id, ())) for r in rows]

    def list_models(self) -> list[ModelRecord]:
        """Every model with its version count, newest version and aliases."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.models.c.id, t.models.c.name, t.models.c.created_at, t.models.c.description,
                       func.count(t.model_versions.c.id), func.max(t.model_versions.c.version))
                .select_from(t.models.outerjoin(t.model_versions))
                .group_by(t.models.c.id).order_by(t.models.c.name)
            ).all()
            alias_rows = conn.execute(
                select(t.model_aliases.c.model_id, t.model_aliases.c.alias, t.model_versions.c.version)
                .join(t.model_versions, t.model_versions.c.id == t.model_aliases.c.model_version_id)
            ).all()
        aliases: dict[int, dict[str, int]] = {}
        for model_id, alias, version in alias_rows:
            aliases.setdefault(model_id, {})[alias] = version
        return [ModelRecord(id=r[0], name=r[1], created_at=as_utc(r[2]), description=r[3],  # type: ignore[arg-type]
                            version_count=r[4], latest_version=r[5], aliases=aliases.get(r[0], {}))
                for r in rows]

    def model_alias_history(self, name: str) -> list[AliasMoveRecord]:
        """Every alias move of ``name``, oldest first."""
        old = t.model_versions.alias("old")
        new = t.model_versions.alias("new")
        with self._read() as conn:
            model_id = self._model_id(conn, name)
            extra = conn.execute(select(t.models.c.extra).where(t.models.c.id == model_id)).scalar() or {}
            deleted: dict[str, int] = extra.get("deleted_versions", {})
            rows = conn.execute(
                select(t.model_alias_history.c.alias, old.c.version, new.c.version,
                       t.model_alias_history.c.from_version_id, t.model_alias_history.c.to_version_id,
                       t.model_alias_history.c.moved_at, t.model_alias_history.c.actor)
                .select_from(t.model_alias_history
                             .outerjoin(old, old.c.id == t.model_alias_history.c.from_version_id)
                             .outerjoin(new, new.c.id == t.model_alias_history.c.to_version_id))
                .where(t.model_alias_history.c.model_id == model_id)
                .order_by(t.model_alias_history.c.id)
            ).all()
        return [AliasMoveRecord(alias=r[0], from_version=r[1] if r[1] is not None else deleted.get(r[3]),
                                to_version=r[2] if r[2] is not None else deleted.get(r[4]),
                                moved_at=as_utc(r[5]), actor=r[6]) for r in rows]  # type: ignore[arg-type]


__all__ = ["Models", "check_alias", "check_model_name", "is_version_number"]
