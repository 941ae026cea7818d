"""``bundle_builder``: a built-in step that saves a model version and packs it into a bundle.

Example::

    from dosirak.steps import bundle_builder

    @pipeline
    def training():
        model = trainer(importer())
        bundle = bundle_builder(model, model_name="fashion_mnist", service="service.py:FashionMNIST",
                                labels={"framework": "pytorch"}, python_packages=["torch"])

The step's output is the bundle's tag (``fashion_mnist:20261124-153012-123456``), which
``dosirak serve``, ``dosirak bundle ...`` and the deployers accept. Lineage is recorded
both ways: the model version points at this run, step and the input artifact; the
bundle points at this run and step and is linked to the model version it packs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from dosirak.errors import BundleError
from dosirak.metadata.store import get_store
from dosirak.models import api as model_api
from dosirak.pipelines.context import get_step_context
from dosirak.pipelines.step import step

log = logging.getLogger(__name__)


def _input_artifact_id(arg: str) -> str | None:
    ctx = get_step_context()
    if ctx is None:
        return None
    return get_store().runs.get_step_run(ctx.step_run_id).inputs.get(arg)


@step(enable_cache=False)
def bundle_builder(
    model: Any,
    model_name: str,
    service: str | None = None,
    spec_file: str | None = None,
    base_dir: str | None = None,
    name: str | None = None,
    labels: dict[str, str] | None = None,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    python_packages: list[str] | None = None,
    requirements_txt: str | None = None,
    models: list[str] | None = None,
    docker_base_image: str | None = None,
    system_packages: list[str] | None = None,
    metrics: dict[str, float] | None = None,
    alias: str | None = None,
) -> Annotated[str, "bundle"]:
    """Save ``model`` as the next version of ``model_name``, build a bundle with it, return its tag.

    Args:
        model: the trained model (any type a model framework handler saves).
        model_name: its name in the model registry.
        service: ``FILE.py:Class`` of the service, relative to ``base_dir``.
        spec_file: a ``dosirak.yaml`` to start from (its values are overridden by the others).
        base_dir: directory of the service files (default: the spec file's, else the current one).
        name, labels, include, exclude, python_packages, requirements_txt, models,
            docker_base_image, system_packages: the build spec's fields.
        metrics: kept with the model version.
        alias: move this alias (e.g. ``"staging"``) to the new model version.
    """
    from dosirak.bundles.builder import build
    from dosirak.bundles.spec import load_spec, make_spec

    values: dict[str, Any] = {}
    root = Path(base_dir) if base_dir else None
    if spec_file:
        values = load_spec(Path(spec_file)).model_dump()
        root = root or Path(spec_file).parent
    overrides = {"service": service, "name": name, "labels": labels, "include": include, "exclude": exclude,
                 "models": models}
    values.update({k: v for k, v in overrides.items() if v is not None})
    python = dict(values.get("python") or {})
    if python_packages is not None:
        python["packages"] = python_packages
    if requirements_txt is not None:
        python["requirements_txt"] = requirements_txt
    docker = dict(values.get("docker") or {})
    if docker_base_image is not None:
        docker["base_image"] = docker_base_image
    if system_packages is not None:
        docker["system_packages"] = system_packages
    values.update(python=python, docker=docker)
    if not values.get("service"):
        raise BundleError("bundle_builder needs `service='FILE.py:Class'` or a `spec_file` naming one")
    spec = make_spec(**values)

    version = model_api.save(model_name, model, metrics=metrics, artifact_id=_input_artifact_id("model"),
                             labels=dict(labels or {}))
    if alias:
        model_api.alias(version.tag, alias, actor="bundle_builder")
    record = build(spec, base_dir=root or Path.cwd(), extra_models=[version])
    log.info("bundle_builder: model %s packed into bundle %s", version.tag, record.tag)
    return record.tag


__all__ = ["bundle_builder"]
