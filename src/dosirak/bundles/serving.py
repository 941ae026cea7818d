"""Serving a bundle: what ``dosirak serve TAG`` (and a bundle's image) does with one.

The one contract: :func:`open_for_serving` turns a bundle tag or directory into a
:class:`ServedBundle`, after verifying its MANIFEST and the signing policy
(``require_signed_bundles``). The server imports :attr:`ServedBundle.service` from
:attr:`ServedBundle.source_dir` in workers started with :meth:`ServedBundle.worker_env`,
which hands them an index of the bundle's models
(:class:`~dosirak.models.source.PackedModels`, in
:data:`~dosirak.models.source.MODEL_INDEX_ENV`): ``dk.model_ref`` resolves through it to
the bundle's own copies, never to the local store.

Pickled models load when the bundle was built here (not imported), or when
``DOSIRAK_BUNDLE_TRUSTED=1`` is set (a bundle's image sets it from its build option).

Example::

    served = open_for_serving("fashion_mnist:latest")   # None for FILE.py:Class or module:Class
    serve(served.service, base_dir=served.source_dir, env=served.worker_env())
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from dosirak.bundles.bundle import BUNDLE_FILE, Bundle
from dosirak.bundles.signing import enforce_policy
from dosirak.bundles.store import list_bundles, parse_tag, resolve
from dosirak.models.source import MODEL_INDEX_ENV, PackedModel, PackedModels
from dosirak.settings import env_flag

log = logging.getLogger(__name__)

#: Set for the workers: the directory of the bundle they serve.
BUNDLE_DIR_ENV = "DOSIRAK_BUNDLE_DIR"
#: "1" when the served bundle is trusted (built here, or the operator said so).
BUNDLE_TRUSTED_ENV = "DOSIRAK_BUNDLE_TRUSTED"


@dataclass(frozen=True)
class ServedBundle:
    """A verified bundle about to be served, and whether its pickled models may load."""

    bundle: Bundle
    trusted: bool

    @property
    def service(self) -> str:
        """The service spec, ``FILE.py:Class`` relative to :attr:`source_dir`."""
        return self.bundle.service

    @property
    def source_dir(self) -> Path:
        return self.bundle.src_dir

    def models(self) -> PackedModels:
        """The index of the bundle's packed models (paths relative to the bundle directory)."""
        root = self.bundle.path.resolve()
        packed = []
        for entry in self.bundle.models:  # names, versions and paths checked by Bundle.open
            tags = entry.get("tags")
            packed.append(PackedModel(name=str(entry["name"]), version=str(entry.get("version", "")),
                                      path=str(entry["path"]),
                                      tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()))
        return PackedModels(root=root, models=tuple(packed), trusted=self.trusted, origin=f"the bundle at {root}")

    def worker_env(self) -> dict[str, str]:
        """The environment the server's workers need: the bundle directory, its trust, its models' index."""
        return {BUNDLE_DIR_ENV: str(self.bundle.path.resolve()), BUNDLE_TRUSTED_ENV: "1" if self.trusted else "0",
                MODEL_INDEX_ENV: self.models().to_json()}


def open_for_serving(target: str) -> ServedBundle | None:
    """The bundle ``target`` names (tag or directory), verified and ready to serve; None if it names none.

    ``FILE.py:Class``, ``module:Class`` and a path without ``bundle.yaml`` are not bundles
    (None), nor is a tag whose name the bundle store does not know.

    Raises:
        BundleIntegrityError: The bundle's files do not match its MANIFEST, or it is unsigned
            while the signing policy requires a signature.
        NotFoundError: The bundle exists but not in the version the tag names.
    """
    candidate = Path(target).expanduser()
    if not (candidate / BUNDLE_FILE).is_file():
        if ".py:" in target or target.endswith(".py") or "/" in target:
            return None
        name, _version = parse_tag(target)
        if not any(r.name == name for r in list_bundles(name)):
            return None
    path, record = resolve(target)
    bundle = Bundle.open(path, check=True)
    enforce_policy(bundle.path, bundle.tag)
    trusted = (record is not None and not record.imported) or env_flag(BUNDLE_TRUSTED_ENV)
    log.info("serving bundle %s from %s%s", bundle.tag, bundle.path, "" if trusted else " (untrusted: no pickle)")
    return ServedBundle(bundle=bundle, trusted=trusted)


__all__ = ["BUNDLE_DIR_ENV", "BUNDLE_TRUSTED_ENV", "ServedBundle", "open_for_serving"]
