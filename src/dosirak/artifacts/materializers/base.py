"""The materializer seam: how one Python type is saved to and loaded from a directory.

How to implement a materializer: subclass :class:`Materializer`, set ``version`` (bump it
when the on-disk format changes: it is part of every cache key), and implement ``save``
and ``load``; ``summary`` is optional (a small JSON dict the dashboard shows). Register it
in the ``dosirak.materializers`` entry-point group under the qualified name of the type it
handles (``"mypkg.module.MyType"``), or in-process with :func:`register`.

Example::

    class PointMaterializer(Materializer):
        version = "1"

        def save(self, obj: Point, path: Path) -> None:
            (path / "point.json").write_text(json.dumps([obj.x, obj.y]))

        def load(self, path: Path, data_type: type | None) -> Point:
            return Point(*json.loads((path / "point.json").read_text()))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar


class Materializer(ABC):
    """Saves and loads one kind of Python object in a directory it owns."""

    #: Format version, part of cache keys: bump it when ``save`` writes something new.
    version: ClassVar[str] = "1"

    @abstractmethod
    def save(self, obj: Any, path: Path) -> None:
        """Write ``obj`` into the (empty, existing) directory ``path``."""

    @abstractmethod
    def load(self, path: Path, data_type: type | None) -> Any:
        """Read back what :meth:`save` wrote in ``path``; ``data_type`` is the declared type."""

    def summary(self, obj: Any) -> dict[str, Any]:
        """A small JSON-serialisable description of ``obj`` (shape, dtype, length ...)."""
        return {}

    @classmethod
    def qualified_name(cls) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"


__all__ = ["Materializer"]
