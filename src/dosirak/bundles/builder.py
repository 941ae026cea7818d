"""Build a bundle from a service, its files, its models and its requirements.

Example::

    from dosirak.bundles.builder import build, build_from_file

    record = build_from_file("dosirak.yaml")                 # what `dosirak bundle build` does
    record = build(make_spec(service="service.py:FashionMNIST", models=["fashion_mnist:latest"]),
                   base_dir=Path("."))

Everything that can be wrong is checked before the bundle exists: the service file and
class (an import error is shown), the include/exclude patterns (the service file must
stay), the model references, the packages to pin. The bundle is assembled in a temporary
directory inside the bundle store and only renamed into place once complete.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import platform
import shutil
import uuid
from pathlib import Path
from typing import Any

import dosirak
from dosirak import disk
from dosirak.bundles import requirements as reqs
from dosirak.bundles import store
from dosirak.bundles.bundle import BUNDLE_FILE, FORMAT_VERSION, new_version
from dosirak.bundles.container import render_dockerfile
from dosirak.bundles.manifest import write_manifest
from dosirak.bundles.spec import SPEC_FILE, BuildSpec, load_spec
from dosirak.errors import BundleError, NotFoundError, ServiceError
from dosirak.metadata.records import BundleRecord
from dosirak.metadata.timeutil import utcnow
from dosirak.models import api as models
from dosirak.models.api import current_step_lineage
from dosirak.models.frameworks.base import handler_named
from dosirak.models.model import ModelVersion
from dosirak.models.ref import ModelRef
from dosirak.models.store import copy_version, verify_files
from dosirak.names import check_name
from dosirak.serving.service import load_service
from dosirak.settings import get_settings

log = logging.getLogger(__name__)

#: Never packed, whatever ``include`` says.
DEFAULT_EXCLUDE = (".git/", ".hg/", ".svn/", "__pycache__/", "*.pyc", ".venv/", "venv/", ".dosirak/",
                   "node_modules/", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", ".ipynb_checkpoints/",
                   "*.bundle", SPEC_FILE)


def matches(rel: str, pattern: str) -> bool:
    """Whether the relative POSIX path ``rel`` matches one include/exclude glob."""
    parts = rel.split("/")
    if pattern.endswith("/"):
        directory = pattern.rstrip("/")
        if "/" in directory:
            return rel.startswith(directory + "/")
        return any(fnmatch.fnmatchcase(p, directory) for p in parts[:-1])
    if "/" not in pattern:
        return fnmatch.fnmatchcase(parts[-1], pattern)
    if pattern.endswith("/**") and rel.startswith(pattern[:-3] + "/"):
        return True
    if pattern.startswith("**/") and matches(rel, pattern[3:]):
        return True
    return fnmatch.fnmatchcase(rel, pattern)


def select_files(base_dir: Path, include: list[str], exclude: list[str]) -> list[str]:
    """Relative paths below ``base_dir`` kept by the patterns (and the default excludes)."""
    home = get_settings().home.resolve()
    chosen: list[str] = []
    for dirpath, dirnames, names in os.walk(base_dir):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() != home)
        for name in sorted(names):
            rel = (here / name).relative_to(base_dir).as_posix()
            if any(matches(rel, p) for p in DEFAULT_EXCLUDE):
                continue
            if any(matches(rel, p) for p in include) and not any(matches(rel, p) for p in exclude):
                chosen.append(rel)
    return chosen


def _service_file(spec: BuildSpec, base_dir: Path) -> tuple[str, str]:
    target, sep, attr = spec.service.rpartition(":")
    if not sep or not target or not attr:
        raise BundleError(f"service '{spec.service}' should look like path/to/file.py:ClassName")
    if not target.endswith(".py"):
        target = target.replace(".", "/") + ".py"
    path = (base_dir / target).resolve()
    if not path.is_relative_to(base_dir.resolve()):
        raise BundleError(f"service file {target} is outside the build directory {base_dir}")
    if not path.is_file():
        raise BundleError(f"service file {target} does not exist in {base_dir}; check `service:` in the build spec")
    return path.relative_to(base_dir.resolve()).as_posix(), attr


def _load_definition(service_rel: str, attr: str, base_dir: Path) -> Any:
    try:
        return load_service(f"{service_rel}:{attr}", base_dir=base_dir.resolve())
    except ServiceError as exc:
        raise BundleError(f"cannot load the service {service_rel}:{attr}: {exc}") from exc


def _model_refs(cls: type) -> list[str]:
    """Tags of the ``dk.model_ref`` attributes of a service class (and its bases)."""
    tags: list[str] = []
    for klass in reversed(cls.__mro__):
        tags += [v.tag for v in vars(klass).values() if isinstance(v, ModelRef)]
    return tags


def _resolve_models(tags: list[str], extra: list[ModelVersion]) -> list[tuple[ModelVersion, list[str]]]:
    chosen: dict[str, tuple[ModelVersion, list[str]]] = {v.id: (v, [v.tag]) for v in extra}
    for tag in tags:
        try:
            version = models.get(tag)
        except NotFoundError as exc:
            raise BundleError(f"model {tag} named by the bundle does not exist: {exc}") from exc
        entry = chosen.setdefault(version.id, (version, [version.tag]))
        name, _, ref = tag.partition(":")
        full = f"{name}:{ref or 'latest'}"
        if full not in entry[1]:
            entry[1].append(full)
    return list(chosen.values())


def _apis(definition: Any) -> list[dict[str, Any]]:
    return [{"name": a.name, "route": a.route, "batchable": a.batchable, "max_batch_size": a.max_batch_size,
             "max_latency_ms": a.max_latency_ms, "input": a.input_schema, "output": a.output_schema}
            for a in definition.apis]


def build(
    spec: BuildSpec,
    *,
    base_dir: Path,
    run_id: str | None = None,
    step_run_id: str | None = None,
    extra_models: list[ModelVersion] | None = None,
) -> BundleRecord:
    """Build the bundle ``spec`` describes from the files in ``base_dir``; return its record.

    Args:
        spec: the build spec (``dosirak.yaml`` or the builder's arguments).
        base_dir: the directory the service path and include/exclude globs start from.
        run_id, step_run_id: lineage; filled in automatically inside a pipeline step.
        extra_models: model versions to pack besides those the spec and service name.

    Raises:
        BundleError: anything wrong with the spec, service, models or packages; nothing is
            left in the bundle store.
    """
    base_dir = Path(base_dir)
    service_rel, attr = _service_file(spec, base_dir)
    files = select_files(base_dir, spec.include, spec.exclude)
    if service_rel not in files:
        culprit = next((p for p in spec.exclude if matches(service_rel, p)), None)
        why = f"the exclude pattern '{culprit}' removes it" if culprit else "no include pattern keeps it"
        raise BundleError(f"the service file {service_rel} would not be in the bundle: {why}")
    definition = _load_definition(service_rel, attr, base_dir)
    packed = _resolve_models(list(dict.fromkeys([*spec.models, *_model_refs(definition.cls)])), extra_models or [])
    model_libs = [(dist, f"needed by model {v.tag} ({v.framework})") for v, _tags in packed
                  for dist in _framework_distributions(v.framework)]
    requirements_file = base_dir / spec.python.requirements_txt if spec.python.requirements_txt else None
    pins = reqs.collect(spec.python.packages, requirements_file, model_libs)
    if run_id is None and step_run_id is None:
        run_id, step_run_id = current_step_lineage()

    name = check_name(spec.name or definition.name, "bundle name", error=BundleError)
    version = new_version()

    temp = store.new_temp_dir()
    try:
        for rel in files:
            target = temp / "src" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(base_dir / rel, target)
        models_info: list[dict[str, Any]] = []
        for model_version, tags in packed:
            rel_dir = f"models/{model_version.name}/{model_version.version}"

            source = model_version.local_dir()  # downloaded once if it was saved on another machine
            verify_files(source, model_version.files, f"model {model_version.tag}")
            copy_version(source, temp / rel_dir)
            models_info.append({"name": model_version.name, "version": model_version.version,
                                "id": model_version.id, "framework": model_version.framework, "path": rel_dir,
                                "tags": tags, "files": model_version.files, "run_id": model_version.run_id})
        env = temp / "env"
        env.mkdir()
        (env / "requirements.txt").write_text(reqs.render(pins, f"bundle {name}:{version}"), encoding="utf-8")
        (env / "Dockerfile").write_text(_dockerfile(spec, name, version), encoding="utf-8")
        (temp / "openapi.json").write_text(json.dumps(definition.openapi(), indent=2, sort_keys=True),
                                           encoding="utf-8")
        info = {
            "format_version": FORMAT_VERSION, "id": str(uuid.uuid4()), "name": name, "version": version,
            "created_at": utcnow().isoformat(), "dosirak_version": dosirak.__version__,
            "python_version": platform.python_version(), "service": f"{service_rel}:{attr}",
            "description": spec.description, "labels": spec.labels, "apis": _apis(definition),
            "models": models_info, "requirements": [p.line for p in pins],
            "lineage": {"run_id": run_id, "step_run_id": step_run_id,
                        "models": {f"{m['name']}:{m['version']}": m["run_id"] for m in models_info}},
        }
        if spec.docker.base_image or spec.docker.system_packages:
            info["docker"] = spec.docker.model_dump(exclude_defaults=True)
        _write_yaml(temp / BUNDLE_FILE, info)
        manifest_hash = write_manifest(temp)
        record = store.commit(temp, info=info, size=store.directory_size(temp), manifest_hash=manifest_hash,
                              model_version_ids=[v.id for v, _ in packed])
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if isinstance(exc, OSError) and disk.out_of_space(exc, temp.parent):
            raise BundleError(disk.full_message(temp.parent, f"building bundle '{name}' in", exc)) from exc
        raise
    log.info("built bundle %s (%d files, %d models)", record.tag, len(files), len(packed))
    return record


def build_from_file(path: str | Path = SPEC_FILE, **overrides: Any) -> BundleRecord:
    """Build from a ``dosirak.yaml``; paths in it are relative to its directory."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"no build spec at {path}; write a {SPEC_FILE} with `service: FILE.py:Class`")
    spec = load_spec(path)
    return build(spec, base_dir=path.parent, **overrides)


def _framework_distributions(framework: str) -> tuple[str, ...]:
    return handler_named(framework).distributions


def _dockerfile(spec: BuildSpec, name: str, version: str) -> str:
    return render_dockerfile(name=name, version=version,
                             base_image=spec.docker.base_image or get_settings().container_base_image,
                             system_packages=spec.docker.system_packages)


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    import yaml

    class _PlainDumper(yaml.SafeDumper):  # type: ignore[misc]
        def ignore_aliases(self, data: Any) -> bool:
            return True

    path.write_text(yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True), encoding="utf-8")


__all__ = ["DEFAULT_EXCLUDE", "build", "build_from_file", "matches", "select_files"]
