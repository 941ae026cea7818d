"""``dosirak up`` and ``dosirak down``: the dashboard, in the background or in the foreground."""

from __future__ import annotations

import click

from dosirak.dashboard import launcher
from dosirak.dashboard.server import serve, url_for
from dosirak.settings import get_settings

DEFAULT_PORT = 8237


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but the loopback requires a token.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--foreground", is_flag=True, help="Serve in this process until interrupted (for containers).")
def up(host: str, port: int, foreground: bool) -> None:
    """Start the dashboard (a web UI and JSON API over the store) and print its URL.

    \b
    Beyond the loopback every request needs a token: DOSIRAK_DASHBOARD_TOKEN, or one
    generated now and printed once. `dosirak down` stops a background dashboard.
    """
    settings = get_settings()
    token, generated = launcher.choose_token(host, settings.dashboard_token)
    if foreground:
        if generated:
            _print_token(token)
        click.echo(f"dosirak dashboard on {url_for(host, port)} (Ctrl+C to stop)")
        serve(host, port, token=token, run_dir=settings.run_dir)
        return
    started = launcher.start(host, port, run_dir=settings.run_dir, configured_token=settings.dashboard_token)
    state = started.state
    if started.already_running:
        click.echo(f"dosirak dashboard already running at {state.url} (pid {state.pid}); `dosirak down` stops it")
        return
    if started.generated:
        _print_token(started.token)
        click.echo(f"dosirak dashboard at {state.url}?token={started.token}")
    else:
        click.echo(f"dosirak dashboard at {state.url}")
    click.echo(f"(pid {state.pid}; `dosirak down` stops it)")


def _print_token(token: str | None) -> None:
    click.echo(f"dashboard token (shown once, keep it): {token}", err=True)


@click.command()
def down() -> None:
    """Stop the background dashboard started by `dosirak up`."""
    state = launcher.stop(get_settings().run_dir)
    if state is None:
        click.echo("no dosirak dashboard is running")
    else:
        click.echo(f"stopped the dosirak dashboard at {state.url} (pid {state.pid})")
