"""References to models from service code and step outputs.

``dk.model_ref("fashion_mnist:latest")`` declares, on a service class, a model the
service needs. It resolves through the process's :class:`~dosirak.models.source.ModelSource`:
the local model store, or, in the workers of ``dosirak serve TAG``, the bundle's own
``models/`` copies, so a bundle never depends on the store it was built from. The bundle
builder reads these declarations to know which model versions to pack.

``dk.ModelOutput("fashion_mnist")`` marks a step output (``Annotated[nn.Module,
dk.ModelOutput("fashion_mnist")]``) that becomes a model version when the step finishes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from dosirak.errors import ModelError
from dosirak.models import api
from dosirak.models.api import parse_tag
from dosirak.models.model import ModelVersion
from dosirak.models.source import current_source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A model a service needs, by tag (``name``, ``name:3``, ``name:latest``, ``name:ALIAS``).

    Example::

        @dk.service(name="fashion_mnist")
        class FashionMNIST:
            model = dk.model_ref("fashion_mnist:latest")

            def __init__(self) -> None:
                self.net = self.model.load()
    """

    tag: str

    @property
    def name(self) -> str:
        return self._parts()[0]

    @property
    def ref(self) -> str:
        return self._parts()[1]

    def _parts(self) -> tuple[str, str]:
        return parse_tag(self.tag)

    def resolve(self) -> ModelVersion:
        """The version this reference names now: in the served bundle, else in the local store."""
        return current_source().resolve(self.tag)

    def load(self, *, trusted: bool | None = None) -> Any:
        """Resolve and load the model object (no pickle from untrusted bundles).

        From a served bundle every file's SHA-256 is checked; from the local store, sizes.
        """
        return current_source().load(self.tag, trusted=trusted)


def model_ref(tag: str) -> ModelRef:
    """Declare a model a service uses; see :class:`ModelRef`."""
    if not isinstance(tag, str) or not tag.strip():
        raise ModelError(f"model_ref needs a tag like 'fashion_mnist:latest', not {tag!r}")
    ref = ModelRef(tag.strip())
    ref._parts()  # validate now, where the service is defined
    return ref


@dataclass(frozen=True)
class ModelOutput:
    """Annotation that turns a step output into a model version when the step finishes.

    Example::

        @step
        def trainer(train: Split) -> Annotated[nn.Module, dk.ModelOutput("fashion_mnist")]:
            ...

    Args:
        name: the model's name in the registry.
        alias: an alias to move to the new version (e.g. ``"staging"``).
        labels, metadata: kept with the version.
    """

    name: str
    alias: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def save(self, value: Any, *, artifact_id: str | None = None, output_name: str | None = None) -> ModelVersion:
        """Save ``value`` as the next version (the step runner calls this after the step)."""
        metadata = {**self.metadata, **({"output": output_name} if output_name else {})}
        version = api.save(self.name, value, labels=self.labels, metadata=metadata, artifact_id=artifact_id)
        if self.alias:
            api.alias(version.tag, self.alias, actor="ModelOutput")
        return version


    def on_output_published(self, value: Any, *, artifact_id: str, output_name: str) -> None:
        """The step runner's output hook: save the output as the next model version."""
        version = self.save(value, artifact_id=artifact_id, output_name=output_name)
        log.info("output '%s' saved as model %s", output_name, version.tag)


def find_model_output(annotation_metadata: tuple[Any, ...]) -> ModelOutput | None:
    """The :class:`ModelOutput` among an ``Annotated`` type's metadata, if any."""
    return next((m for m in annotation_metadata if isinstance(m, ModelOutput)), None)


__all__ = ["ModelOutput", "ModelRef", "find_model_output", "model_ref"]
