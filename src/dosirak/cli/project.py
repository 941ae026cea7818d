"""``dosirak init``: a repository-local dosirak home, as git users expect."""

from __future__ import annotations

from pathlib import Path

import click

from dosirak.metadata.store import get_store
from dosirak.settings import CONFIG_FILE_NAME, PROJECT_DIR_NAME, env_value


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(directory: Path) -> None:
    """Create DIRECTORY/.dosirak: its own metadata store, artifacts, models and bundles.

    Commands run anywhere below DIRECTORY use it instead of the per-user home
    (DOSIRAK_HOME still wins when set).
    """
    target = directory.resolve() / PROJECT_DIR_NAME
    config = target / CONFIG_FILE_NAME
    _say_when_the_environment_wins(target)
    if config.exists():
        click.echo(f"{target} already exists; nothing to do")
        return
    target.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "# dosirak project settings (DOSIRAK_* environment variables override these)\n"
        "# metadata_url = \"postgresql+psycopg://user@host/dosirak\"\n"
    )
    (target / ".gitignore").write_text("*\n!config.toml\n!.gitignore\n")

    get_store(f"sqlite:///{target / 'metadata.db'}")
    click.echo(f"initialised dosirak project home at {target}")


def _say_when_the_environment_wins(target: Path) -> None:
    """One line on stderr when DOSIRAK_HOME is set: commands then use it, not ``target``."""
    home = env_value("DOSIRAK_HOME")
    if home:
        click.echo(f"warning: DOSIRAK_HOME is set ({home}) and wins: commands use it, not {target}, "
                   "until you unset it", err=True)
