"""Models, model versions and aliases (with their history) in the metadata store.

SQL text on the store's driver (:mod:`dosirak.metadata.driver`), like every concept: saving
or loading a model on the default SQLite store never imports SQLAlchemy.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from dosirak.errors import ModelError, NotFoundError
from dosirak.metadata import tables
from dosirak.metadata.database import Concept
from dosirak.metadata.driver import Cursor, Row, in_list
from dosirak.metadata.like import MAX_SQL_INTEGER
from dosirak.metadata.records import AliasMoveRecord, ModelRecord, ModelVersionRecord, from_row
from dosirak.metadata.timeutil import utcnow
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


def _version_from_row(row: Row, aliases: tuple[str, ...] = ()) -> ModelVersionRecord:
    return from_row(ModelVersionRecord, row, name=row["model_name"], aliases=aliases)


_VERSIONS = ("SELECT model_versions.*, models.name AS model_name FROM model_versions "
             "JOIN models ON models.id = model_versions.model_id ")
_MODEL_AND_LAST_VERSION = (
    "SELECT models.id, max(model_versions.version) AS last_version FROM models "
    "LEFT OUTER JOIN model_versions ON model_versions.model_id = models.id "
    "WHERE models.name = :name GROUP BY models.id")
_INSERT_MODEL = tables.MODELS.insert_sql() + " RETURNING id"
_INSERT_VERSION = tables.MODEL_VERSIONS.insert_sql()
_INSERT_ALIAS = tables.MODEL_ALIASES.insert_sql()
_INSERT_ALIAS_MOVE = tables.MODEL_ALIAS_HISTORY.insert_sql()
_ALIAS_TARGET = "SELECT model_version_id FROM model_aliases WHERE model_id = :model_id AND alias = :alias"


def _version_with_aliases(ref_kind: str) -> str:
    """One query for a version and its aliases (one row per alias, or one with alias NULL).

    ``ref_kind`` is ``latest``, ``number`` (bind ``version``) or ``alias`` (bind ``alias``);
    the model is bound as ``name``.
    """
    source = "model_versions JOIN models ON models.id = model_versions.model_id"
    if ref_kind == "alias":
        source += (" JOIN model_aliases named ON named.model_version_id = model_versions.id "
                   "AND named.model_id = model_versions.model_id")
    source += " LEFT OUTER JOIN model_aliases listed ON listed.model_version_id = model_versions.id"
    where = "models.name = :name AND "
    if ref_kind == "latest":
        where += ("model_versions.version = (SELECT max(newest.version) FROM model_versions newest "
                  "WHERE newest.model_id = model_versions.model_id)")
    elif ref_kind == "number":
        where += "model_versions.version = :version"
    else:
        where += "named.alias = :alias"
    return (f"SELECT model_versions.*, models.name AS model_name, listed.alias AS listed_alias FROM {source} "
            f"WHERE {where} ORDER BY listed.alias")


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
        version_id: str | None = None,
    ) -> ModelVersionRecord:
        """Record the next version of ``name`` (creating the model), in one transaction.

        ``place(version, version_id)`` is called inside the transaction once the version
        number is known; it moves the files into place and returns their URI. If it raises,
        nothing is recorded. It must be quick (a rename): the store's write lock is held
        while it runs, so anything slow (an upload) is done before, keyed by ``version_id``
        (a UUID the caller made; a new one when None).
        """
        check_model_name(name)
        version_id = str(uuid.UUID(version_id)) if version_id is not None else str(uuid.uuid4())
        with self.sql.write() as cur:
            found = cur.execute(_MODEL_AND_LAST_VERSION, {"name": name})
            if not found:
                model_id = self._insert_model(cur, name)
                current = None
            else:
                model_id, current = int(found[0]["id"]), found[0]["last_version"]
            version = int(current or 0) + 1
            uri = place(version, version_id)
            cur.execute(_INSERT_VERSION, tables.MODEL_VERSIONS.row({
                "id": version_id, "model_id": model_id, "version": version, "framework": framework, "uri": uri,
                "created_at": utcnow(), "metadata": metadata or {}, "metrics": metrics or {}, "labels": labels or {},
                "signatures": signatures or {}, "libraries": libraries or {}, "files": files, "run_id": run_id,
                "step_run_id": step_run_id, "artifact_id": artifact_id, "trusted": trusted, "extra": extra or {},
            }))
            row = cur.execute(_VERSIONS + "WHERE model_versions.id = :version_id", {"version_id": version_id})[0]
        return _version_from_row(row)

    @staticmethod
    def _insert_model(cur: Cursor, name: str) -> int:
        rows = cur.execute(_INSERT_MODEL, tables.MODELS.row({"name": name, "created_at": utcnow(), "extra": {}}))
        return int(rows[0]["id"])

    def _model_id(self, cur: Cursor, name: str, *, create: bool = False) -> int:
        found = cur.execute("SELECT id FROM models WHERE name = :name", {"name": name})
        if found:
            return int(found[0]["id"])
        if not create:
            raise NotFoundError(f"no model named '{name}'; `dosirak model list` shows the known ones")
        return self._insert_model(cur, name)

    def set_model_alias(self, name: str, alias: str, version: int, *, actor: str | None = None) -> AliasMoveRecord:
        """Point ``alias`` at ``version`` of ``name``; the move is kept in the alias history."""
        check_alias(alias)
        now = utcnow()
        with self.sql.write() as cur:
            model_id = self._model_id(cur, name)
            target = self._version_row(cur, model_id, name, str(version))
            found = cur.execute(_ALIAS_TARGET, {"model_id": model_id, "alias": alias})
            previous = found[0]["model_version_id"] if found else None
            if previous is None:
                cur.execute(_INSERT_ALIAS, tables.MODEL_ALIASES.row(
                    {"model_id": model_id, "alias": alias, "model_version_id": target["id"], "updated_at": now}))
            else:
                cur.execute("UPDATE model_aliases SET model_version_id = :model_version_id, updated_at = :updated_at "
                            "WHERE model_id = :model_id AND alias = :alias",
                            {"model_version_id": target["id"], "updated_at": now, "model_id": model_id,
                             "alias": alias})
            cur.execute(_INSERT_ALIAS_MOVE, tables.MODEL_ALIAS_HISTORY.row(
                {"model_id": model_id, "alias": alias, "from_version_id": previous, "to_version_id": target["id"],
                 "moved_at": now, "actor": actor}))
            from_version = self._version_number(cur, previous)
        return AliasMoveRecord(alias=alias, from_version=from_version, to_version=target["version"],
                               moved_at=now, actor=actor)

    def remove_model_alias(self, name: str, alias: str, *, actor: str | None = None) -> None:
        """Remove an alias (kept in the history as a move to nothing)."""
        with self.sql.write() as cur:
            model_id = self._model_id(cur, name)
            found = cur.execute(_ALIAS_TARGET, {"model_id": model_id, "alias": alias})
            if not found:
                raise NotFoundError(f"model '{name}' has no alias '{alias}'; `dosirak model show {name}` lists them")
            self._drop_alias(cur, model_id, alias, found[0]["model_version_id"], actor)

    @staticmethod
    def _drop_alias(cur: Cursor, model_id: int, alias: str, previous: str, actor: str | None) -> None:
        cur.execute("DELETE FROM model_aliases WHERE model_id = :model_id AND alias = :alias",
                    {"model_id": model_id, "alias": alias})
        cur.execute(_INSERT_ALIAS_MOVE, tables.MODEL_ALIAS_HISTORY.row(
            {"model_id": model_id, "alias": alias, "from_version_id": previous, "to_version_id": None,
             "moved_at": utcnow(), "actor": actor}))

    def delete_model_version(self, name: str, version: int) -> ModelVersionRecord:
        """Forget one version (its aliases are removed); refused while a bundle or deployment uses it."""
        with self.sql.write() as cur:
            model_id = self._model_id(cur, name)
            row = self._version_row(cur, model_id, name, str(version))
            self._refuse_if_used(cur, [(row["id"], f"{name}:{row['version']}")])
            record = _version_from_row(row)
            for found in cur.execute("SELECT alias FROM model_aliases WHERE model_version_id = :id ORDER BY alias",
                                     {"id": row["id"]}):
                self._drop_alias(cur, model_id, found["alias"], row["id"], "delete")
            cur.execute("DELETE FROM model_versions WHERE id = :id", {"id": row["id"]})
            # the alias history keeps naming the deleted version by its number
            extra = dict(self._model_extra(cur, model_id))
            extra["deleted_versions"] = {**extra.get("deleted_versions", {}), row["id"]: row["version"]}
            cur.execute("UPDATE models SET extra = :extra WHERE id = :id", {"extra": extra, "id": model_id})
        return record

    @staticmethod
    def _model_extra(cur: Cursor, model_id: int) -> dict[str, Any]:
        found = cur.execute("SELECT extra FROM models WHERE id = :id", {"id": model_id})
        return (found[0]["extra"] if found else None) or {}

    def delete_model(self, name: str) -> list[ModelVersionRecord]:
        """Forget a model and every version; refused while a bundle or deployment uses any."""
        with self.sql.write() as cur:
            model_id = self._model_id(cur, name)
            rows = cur.execute(_VERSIONS + "WHERE model_versions.model_id = :model_id", {"model_id": model_id})
            self._refuse_if_used(cur, [(r["id"], f"{name}:{r['version']}") for r in rows])
            for table in ("model_aliases", "model_alias_history", "model_versions"):
                cur.execute(f"DELETE FROM {table} WHERE model_id = :model_id", {"model_id": model_id})
            cur.execute("DELETE FROM models WHERE id = :model_id", {"model_id": model_id})
        return [_version_from_row(r) for r in rows]

    @staticmethod
    def _refuse_if_used(cur: Cursor, versions: list[tuple[str, str]]) -> None:
        ids = [vid for vid, _ in versions]
        if not ids:
            return
        tags = dict(versions)
        in_ids, params = in_list("version", ids)
        in_ended, ended = in_list("ended", ENDED_DEPLOYMENT_STATUSES)
        users: list[str] = []
        for r in cur.execute(
            "SELECT bundle_models.model_version_id, bundles.name, bundles.version FROM bundle_models "
            f"JOIN bundles ON bundles.id = bundle_models.bundle_id WHERE bundle_models.model_version_id IN {in_ids}",
            params,
        ):
            users.append(f"bundle {r['name']}:{r['version']} (uses {tags[r['model_version_id']]})")
        for r in cur.execute(
            f"SELECT model_version_id, name, status FROM deployments WHERE model_version_id IN {in_ids} "
            f"AND status NOT IN {in_ended}", {**params, **ended},
        ):
            users.append(f"deployment {r['name']} ({r['status']}, uses {tags[r['model_version_id']]})")
        if users:
            raise ModelError(
                f"cannot delete: in use by {'; '.join(sorted(users))}; delete those bundles "
                "(`dosirak bundle delete TAG`) or stop those deployments first"
            )

    # -- reads ----------------------------------------------------------------------
    def _version_row(self, cur: Cursor, model_id: int | None, name: str, ref: str) -> Row:
        """The row ``ref`` names; by ``model_id``, or by ``name`` in the same query when it is None."""
        latest = ref in ("", "latest")
        query = _VERSIONS
        if not latest and not is_version_number(ref):
            query += "JOIN model_aliases ON model_aliases.model_version_id = model_versions.id "
        params: dict[str, Any]
        if model_id is None:
            query, params = query + "WHERE models.name = :name", {"name": name}
        else:
            query, params = query + "WHERE model_versions.model_id = :model_id", {"model_id": model_id}
        if latest:
            query += " ORDER BY model_versions.version DESC LIMIT 1"
        elif is_version_number(ref):
            query, params["version"] = query + " AND model_versions.version = :version", int(ref)
        else:
            query, params["alias"] = query + " AND model_aliases.alias = :alias", ref
        rows = cur.execute(query, params)
        if not rows:
            if model_id is None:
                self._model_id(cur, name)  # "no model named ..." when that is the problem
            what = "has no versions" if latest else f"has no version or alias '{ref}'"
            raise NotFoundError(f"model '{name}' {what}; `dosirak model show {name}` lists its versions and aliases")
        return rows[0]

    @staticmethod
    def _version_number(cur: Cursor, version_id: str | None) -> int | None:
        if version_id is None:
            return None
        found = cur.execute("SELECT version FROM model_versions WHERE id = :id", {"id": version_id})
        return int(found[0]["version"]) if found else None

    @staticmethod
    def _aliases_of(cur: Cursor, version_ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not version_ids:
            return {}
        in_ids, params = in_list("version", version_ids)
        out: dict[str, list[str]] = {}
        for r in cur.execute(f"SELECT model_version_id, alias FROM model_aliases WHERE model_version_id IN {in_ids} "
                             "ORDER BY alias", params):
            out.setdefault(r["model_version_id"], []).append(r["alias"])
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
        with self.sql.read() as cur:
            rows = cur.execute(query, params)
            if not rows:  # raises the NotFoundError that says what is missing (or finds a version just added)
                row = self._version_row(cur, None, name, ref)
                return _version_from_row(row, self._aliases_of(cur, [row["id"]]).get(row["id"], ()))
        aliases = tuple(r["listed_alias"] for r in rows if r["listed_alias"] is not None)
        return _version_from_row(rows[0], aliases)

    def get_model_version_by_id(self, version_id: str) -> ModelVersionRecord:
        with self.sql.read() as cur:
            rows = cur.execute(_VERSIONS + "WHERE model_versions.id = :version_id", {"version_id": version_id})
            if not rows:
                raise NotFoundError(f"no model version with id '{version_id}'")
            aliases = self._aliases_of(cur, [version_id]).get(rows[0]["id"], ())
        return _version_from_row(rows[0], aliases)

    def list_model_versions(self, name: str) -> list[ModelVersionRecord]:
        """Every version of ``name``, newest first."""
        with self.sql.read() as cur:
            model_id = self._model_id(cur, name)
            rows = cur.execute(_VERSIONS + "WHERE model_versions.model_id = :model_id "
                               "ORDER BY model_versions.version DESC", {"model_id": model_id})
            aliases = self._aliases_of(cur, [r["id"] for r in rows])
        return [_version_from_row(r, aliases.get(r["id"], ())) for r in rows]

    def list_models(self) -> list[ModelRecord]:
        """Every model with its version count, newest version and aliases."""
        with self.sql.read() as cur:
            rows = cur.execute(
                "SELECT models.id, models.name, models.created_at, models.description, "
                "count(model_versions.id) AS version_count, max(model_versions.version) AS latest_version "
                "FROM models LEFT OUTER JOIN model_versions ON model_versions.model_id = models.id "
                "GROUP BY models.id ORDER BY models.name")
            alias_rows = cur.execute(
                "SELECT model_aliases.model_id, model_aliases.alias, model_versions.version FROM model_aliases "
                "JOIN model_versions ON model_versions.id = model_aliases.model_version_id")
        aliases: dict[int, dict[str, int]] = {}
        for a in alias_rows:
            aliases.setdefault(a["model_id"], {})[a["alias"]] = a["version"]
        return [from_row(ModelRecord, r, aliases=aliases.get(r["id"], {})) for r in rows]

    def model_alias_history(self, name: str) -> list[AliasMoveRecord]:
        """Every alias move of ``name``, oldest first."""
        with self.sql.read() as cur:
            model_id = self._model_id(cur, name)
            deleted: dict[str, int] = self._model_extra(cur, model_id).get("deleted_versions", {})
            rows = cur.execute(
                "SELECT moves.alias, moves.from_version_id, moves.to_version_id, moves.moved_at, moves.actor, "
                "old_version.version AS from_number, new_version.version AS to_number FROM model_alias_history moves "
                "LEFT OUTER JOIN model_versions old_version ON old_version.id = moves.from_version_id "
                "LEFT OUTER JOIN model_versions new_version ON new_version.id = moves.to_version_id "
                "WHERE moves.model_id = :model_id ORDER BY moves.id", {"model_id": model_id})
        return [AliasMoveRecord(alias=r["alias"], moved_at=r["moved_at"], actor=r["actor"],
                                from_version=r["from_number"] if r["from_number"] is not None
                                else deleted.get(r["from_version_id"]),
                                to_version=r["to_number"] if r["to_number"] is not None
                                else deleted.get(r["to_version_id"]))
                for r in rows]


__all__ = ["Models", "check_alias", "check_model_name", "is_version_number"]
