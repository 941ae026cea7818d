"""Stack components: the base every orchestrator, artifact store and deployer flavor shares.

How to implement a flavor: subclass the base for its component type (e.g.
``BaseOrchestrator``), set ``flavor``, point ``config_model`` at a pydantic model
(``"package.module:Config"``; kept in a separate module so that running a pipeline never
imports pydantic), and register the class in the entry-point group of its type
(``dosirak.orchestrators``, ``dosirak.artifact_stores``, ``dosirak.model_deployers``).
The config's JSON schema drives ``dosirak <type> register --key=value`` validation and
the dashboard's forms; a flavor whose options name places overrides ``check_usable`` to try
them at registration. An option that is a credential holds a ``{env:NAME}`` reference
(:mod:`dosirak.stack.credentials`): the flavor turns it into the value with
``credentials.resolve`` at the moment it uses it, and keeps only the reference in ``config``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, ClassVar

from dosirak.errors import FlavorError

if TYPE_CHECKING:
    from pydantic import BaseModel


class StackComponent:
    """A configured part of a stack. ``config`` is the validated dict stored in the metadata store."""

    component_type: ClassVar[str] = ""
    flavor: ClassVar[str] = ""
    #: ``"module:Class"`` of the pydantic model describing ``config`` (None: no options).
    config_model: ClassVar[str | None] = None

    def __init__(self, name: str, config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.config = dict(config or {})

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> StackComponent:
        """The component ``name`` built from its record's validated ``config``; how a stack
        builds every component (a flavor whose constructor takes more overrides this)."""
        return cls(name, config)

    @classmethod
    def config_class(cls) -> type[BaseModel] | None:
        """The pydantic model of the flavor's options (imported now), or None when it takes none."""
        if cls.config_model is None:
            return None
        from pydantic import BaseModel

        module_name, _, attr = cls.config_model.partition(":")
        model = getattr(importlib.import_module(module_name), attr)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise FlavorError(f"flavor '{cls.flavor}': config_model '{cls.config_model}' is {model!r}, "
                              "not a pydantic model; point it at a `pydantic.BaseModel` subclass")
        return model

    @classmethod
    def config_defaults(cls) -> dict[str, Any]:
        """Every option that has a default, with it, as the config model declares it ({} without a model).

        The model is the one declaration of a flavor's options: read the defaults from here
        rather than repeating them (this imports pydantic, so call it when an option is used).
        """
        model = cls.config_class()
        if model is None:
            return {}
        return {name: f.get_default(call_default_factory=True) for name, f in model.model_fields.items()
                if not f.is_required()}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Validate user-given options against the flavor's config model; return clean JSON."""
        model = cls.config_class()
        if model is None:
            if config:
                raise FlavorError(f"flavor '{cls.flavor}' takes no options, got: {', '.join(sorted(config))}")
            return {}
        from pydantic import ValidationError

        unknown = set(config) - set(model.model_fields)
        if unknown:
            raise FlavorError(
                f"flavor '{cls.flavor}' has no option(s) {', '.join(option_flag(k) for k in sorted(unknown))}; "
                f"known: {', '.join(option_flag(k) for k in sorted(model.model_fields)) or 'none'}"
            )
        try:
            return dict(model.model_validate(config).model_dump(mode="json", exclude_none=True))
        except ValidationError as exc:
            problems = "; ".join(f"{_location(e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}"
                                 for e in exc.errors())
            raise FlavorError(f"invalid options for flavor '{cls.flavor}': {problems}") from None

    @classmethod
    def check_usable(cls, name: str, config: dict[str, Any]) -> None:
        """Check, before component ``name`` is registered, that its validated ``config`` can be used here.

        A flavor whose options name places (directories, files) overrides this to try them
        and raise a :class:`~dosirak.errors.StackError` naming the option and what is wrong;
        nothing may be left behind by the check. Default: nothing to check.
        """

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        model = cls.config_class()
        return {} if model is None else dict(model.model_json_schema())

    def __repr__(self) -> str:
        return f"<{self.component_type} {self.name} ({self.flavor})>"


def option_flag(key: str) -> str:
    """How the command line spells the option ``key``: ``port_policy`` -> ``--port-policy``.

    ``dosirak <type> register`` takes both spellings; help and messages show the dashed one.
    """
    return "--" + key.replace("_", "-")


def _location(loc: tuple[int | str, ...]) -> str:
    """A validation error's place: the option's flag, then any keys inside its value."""
    if not loc:
        return "(options)"
    head, *rest = loc
    return ".".join([option_flag(str(head)), *(str(p) for p in rest)])


__all__ = ["StackComponent", "option_flag"]
