"""dosirak's configuration, read once and lazily.

Precedence for every setting: explicit argument > ``DOSIRAK_*`` environment variable >
project config (``.dosirak/config.toml`` in the nearest enclosing directory made by
``dosirak init``) > user config (``~/.config/dosirak/config.toml``) > default.

This is the only module that reads ``os.environ`` for dosirak settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dosirak.errors import ConfigError
from dosirak.units import parse_size

PROJECT_DIR_NAME = ".dosirak"
CONFIG_FILE_NAME = "config.toml"

_settings: Settings | None = None

#: The base image ``dosirak bundle containerize`` uses by default: Debian bookworm's own Python 3.11,
#: which dosirak builds locally with mmdebstrap when it is missing (no registry needed).
DEFAULT_CONTAINER_BASE_IMAGE = "localhost/debian-python:bookworm"
#: Image builders ``containerize`` knows, in the order ``auto`` tries them.
CONTAINER_BUILDERS = ("docker", "podman", "buildah")


@dataclass(frozen=True)
class ImportLimits:
    """What ``dosirak bundle import`` accepts, checked from the archive's headers before extraction.

    Settings (environment variable / config-file key): ``DOSIRAK_IMPORT_MAX_BYTES`` /
    ``import_max_bytes`` (all files together, default 16 GiB), ``DOSIRAK_IMPORT_MAX_FILE_BYTES`` /
    ``import_max_file_bytes`` (one file, default 8 GiB), ``DOSIRAK_IMPORT_MAX_MEMBERS`` /
    ``import_max_members`` (files, directories and links, default 10,000). Sizes take units
    (``500MB``, ``32GiB``).
    """

    max_bytes: int = 16 * 1024**3
    max_file_bytes: int = 8 * 1024**3
    max_members: int = 10_000


#: PyTorch's CPU wheel index (``scripts/setup.sh`` uses the same).
DEFAULT_TORCH_INDEX_URL = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Settings:
    """Where dosirak keeps its state, and how it behaves."""

    #: Directory holding the default SQLite store, artifacts, models and bundles.
    home: Path
    #: SQLAlchemy URL of the metadata store.
    metadata_url: str
    #: Where the project root is, when ``home`` is a repository-local ``.dosirak``.
    project_root: Path | None = None
    #: Token required by the dashboard when it binds to a non-loopback address.
    dashboard_token: str | None = None
    #: Level for dosirak's own log output when the CLI configures logging.
    log_level: str = "INFO"
    #: Limits a bundle archive must meet before anything in it is extracted.
    import_limits: ImportLimits = field(default_factory=ImportLimits)
    #: Refuse to import or serve a bundle without a valid signature by a trusted key.
    require_signed_bundles: bool = False
    #: File of trusted public keys (``dosirak-ed25519 BASE64 NAME`` lines) that signatures are checked against.
    trusted_keys: Path | None = None
    #: Base image of ``dosirak bundle containerize`` when neither ``--base-image`` nor the bundle names one.
    container_base_image: str = DEFAULT_CONTAINER_BASE_IMAGE
    #: Image builder of ``containerize``: ``auto`` (the first of docker, podman, buildah that works) or one of them.
    container_builder: str = "auto"
    #: How a pipeline run shows its steps on stderr: ``live`` (a status line redrawn in place, for a
    #: terminal), ``plain`` (one line per event, for logs and CI), ``off``, or ``auto`` (``live`` when
    #: stderr is a terminal and ``CI`` is not set, else ``plain``).
    progress: str = "auto"
    #: Seconds between two lines of an in-place progress bar (``\r`` updates) in a step's output that is not a terminal.
    progress_interval_s: float = 10.0
    #: Where ``dosirak integration install torch`` gets torch (if that index answers within 5 s; ``''``: the
    #: default index). ``TORCH_INDEX_URL``, the same variable as ``scripts/setup.sh``'s.
    torch_index_url: str = DEFAULT_TORCH_INDEX_URL
    #: Settings of plugins, from the config files' ``[extra]`` table.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def artifact_root(self) -> Path:
        return self.home / "artifacts"

    @property
    def models_root(self) -> Path:
        return self.home / "models"

    @property
    def bundles_root(self) -> Path:
        return self.home / "bundles"

    @property
    def deployments_root(self) -> Path:
        return self.home / "deployments"

    @property
    def secrets_root(self) -> Path:
        """Named secrets (``dosirak secret create``): one owner-only file each, outside the metadata store."""
        return self.home / "secrets"

    @property
    def run_dir(self) -> Path:
        """Runtime files (PID files, dashboard state)."""
        return self.home / "run"


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dosirak"


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dosirak"


def find_project_dir(start: Path | None = None) -> Path | None:
    """The nearest ``.dosirak`` directory made by ``dosirak init``, searching upwards."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / PROJECT_DIR_NAME
        if (candidate / CONFIG_FILE_NAME).is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    import tomllib  # only when a config file exists

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}; fix or delete it") from exc


def load_settings(**explicit: Any) -> Settings:
    """Build settings from explicit values, the environment and config files."""
    env = os.environ
    user_cfg = _read_toml(user_config_dir() / CONFIG_FILE_NAME)
    project_dir = find_project_dir()
    project_cfg = _read_toml(project_dir / CONFIG_FILE_NAME) if project_dir else {}

    def pick(key: str, env_name: str, default: Any = None) -> Any:
        if explicit.get(key) is not None:
            return explicit[key]
        if env.get(env_name):
            return env[env_name]
        if key in project_cfg:
            return project_cfg[key]
        if key in user_cfg:
            return user_cfg[key]
        return default

    home_value = explicit.get("home") or env.get("DOSIRAK_HOME")
    project_root = None
    if home_value:
        home = Path(home_value).expanduser()
    elif project_dir is not None:
        home = project_dir
        project_root = project_dir.parent
    else:
        home = Path(user_cfg.get("home", default_home())).expanduser()
    home = home.absolute()
    metadata_url = pick("metadata_url", "DOSIRAK_METADATA_URL", f"sqlite:///{home / 'metadata.db'}")
    return Settings(
        home=home,
        metadata_url=str(metadata_url),
        project_root=project_root,
        dashboard_token=pick("dashboard_token", "DOSIRAK_DASHBOARD_TOKEN"),
        log_level=str(pick("log_level", "DOSIRAK_LOG_LEVEL", "INFO")).upper(),
        import_limits=_import_limits(pick),
        require_signed_bundles=_flag(pick("require_signed_bundles", "DOSIRAK_REQUIRE_SIGNED_BUNDLES", False)),
        trusted_keys=_optional_path(pick("trusted_keys", "DOSIRAK_TRUSTED_KEYS")),
        container_base_image=str(pick("container_base_image", "DOSIRAK_CONTAINER_BASE_IMAGE",
                                      DEFAULT_CONTAINER_BASE_IMAGE)),
        container_builder=_choice(pick("container_builder", "DOSIRAK_CONTAINER_BUILDER", "auto"),
                                  ("auto", *CONTAINER_BUILDERS), "DOSIRAK_CONTAINER_BUILDER / container_builder"),
        progress=_progress_mode(pick("progress", "DOSIRAK_PROGRESS", "auto"), env.get("CI")),
        progress_interval_s=_seconds(pick("progress_interval", "DOSIRAK_PROGRESS_INTERVAL", 10.0),
                                     "DOSIRAK_PROGRESS_INTERVAL / progress_interval"),
        torch_index_url=_index_url(env["TORCH_INDEX_URL"] if "TORCH_INDEX_URL" in env
                                   else pick("torch_index_url", "TORCH_INDEX_URL", DEFAULT_TORCH_INDEX_URL)),
    )


#: Values of ``DOSIRAK_PROGRESS`` / ``progress``.
PROGRESS_MODES = ("auto", "live", "plain", "off")


def _progress_mode(value: Any, ci: str | None) -> str:
    """``auto`` becomes ``plain`` under CI (``CI`` set to anything but ``false``/``0``); the rest stay."""
    mode = _choice(value, PROGRESS_MODES, "DOSIRAK_PROGRESS / progress")
    if mode == "auto" and ci and ci.strip().lower() not in {"0", "false", "no", "off"}:
        return "plain"
    return mode


def _index_url(value: Any) -> str:
    """A package index URL (http or https), or ``''`` for the default index."""
    url = str(value).strip()
    if url and not url.startswith(("https://", "http://")):
        raise ConfigError(f"TORCH_INDEX_URL / torch_index_url: {url[:200]!r} is not an http(s) URL of a package index; "
                          "e.g. https://download.pytorch.org/whl/cpu, or '' for the default index")
    return url


def _seconds(value: Any, what: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: {value!r} is not a number of seconds; use e.g. 10 or 0.5") from None
    if not 0 < seconds <= 86400:  # also refuses nan and inf
        raise ConfigError(f"{what} must be between 0 and 86400 seconds, got {value!r}")
    return seconds


def _choice(value: Any, choices: tuple[str, ...], what: str) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ConfigError(f"{what}: {value!r} is not one of {', '.join(choices)}")
    return text


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{value!r} is not a yes/no value; use 1/0, true/false, yes/no or on/off")


def _optional_path(value: Any) -> Path | None:
    return Path(str(value)).expanduser() if value else None


def _import_limits(pick: Any) -> ImportLimits:
    default = ImportLimits()
    values: dict[str, int] = {}
    for key, env_name, fallback, is_size in (
        ("max_bytes", "DOSIRAK_IMPORT_MAX_BYTES", default.max_bytes, True),
        ("max_file_bytes", "DOSIRAK_IMPORT_MAX_FILE_BYTES", default.max_file_bytes, True),
        ("max_members", "DOSIRAK_IMPORT_MAX_MEMBERS", default.max_members, False),
    ):
        raw = pick(f"import_{key}", env_name, fallback)
        try:
            value = parse_size(raw) if is_size else int(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{env_name} / import_{key}: {raw!r} is not a {'size' if is_size else 'count'}; "
                              f"use e.g. {'32GiB' if is_size else '50000'}") from exc
        if value <= 0:
            raise ConfigError(f"{env_name} / import_{key} must be positive, got {raw!r}")
        values[key] = value
    return ImportLimits(**values)


def get_settings() -> Settings:
    """The process-wide settings, loaded on first use."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def configure(**explicit: Any) -> Settings:
    """Replace the process-wide settings (explicit values win over everything else)."""
    global _settings
    _settings = load_settings(**explicit)
    return _settings


def reset_settings() -> None:
    """Forget the loaded settings so the next use reads the environment again."""
    global _settings
    _settings = None


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean ``DOSIRAK_*`` flag from the environment."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_value(name: str, default: str | None = None) -> str | None:
    """Read a ``DOSIRAK_*`` value from the environment (the only sanctioned way)."""
    return os.environ.get(name, default)


def child_environment(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of this process's environment with ``overrides`` applied, for a child process."""
    env = dict(os.environ)
    env.update(overrides or {})
    return env


__all__ = [
    "CONTAINER_BUILDERS",
    "DEFAULT_CONTAINER_BASE_IMAGE",
    "DEFAULT_TORCH_INDEX_URL",
    "ImportLimits",
    "PROGRESS_MODES",
    "Settings",
    "child_environment",
    "configure",
    "default_home",
    "env_flag",
    "env_value",
    "find_project_dir",
    "get_settings",
    "load_settings",
    "replace",
    "reset_settings",
]
