"""``dosirak gc``: find and remove the files no run, model or bundle refers to."""

from __future__ import annotations

import sys

import click

from dosirak.artifacts.gc import Roots, collect
from dosirak.cli._render import json_option, print_json, table
from dosirak.metadata.store import get_store
from dosirak.units import human_size


@click.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@json_option
def gc(dry_run: bool, as_json: bool) -> None:
    """Remove what killed runs, saves and builds left below the dosirak home.

    \b
    staging      partial outputs of runs that were killed mid-write
    artifact     outputs published but never recorded (killed, or the disk was full)
    model-tmp    model saves whose process was killed
    bundle-tmp   bundle builds and imports whose process was killed
    model        model version directories no version row names
    bundle       bundle directories no bundle row names (left alone for an hour)

    Nothing a row refers to, nothing of a run still running, and nothing outside the
    home's artifacts/, models/ and bundles/ is ever removed; symlinks are not followed.
    Exits with status 1 if something could not be removed.
    """
    report = collect(get_store(), Roots.of_home(), dry_run=dry_run)
    if as_json:
        print_json(report.to_json())
    else:
        if report.orphans:
            table("Would remove" if dry_run else "Removed", ["kind", "size", "path", "why"],
                  [(o.kind, human_size(o.size), o.path, o.reason) for o in report.orphans])
        found = [f"{v['count']} {kind} ({human_size(v['bytes'])})" for kind, v in report.kinds().items() if v["count"]]
        total = report.total()
        if not found:
            click.echo("nothing to remove")
        else:
            verb = "would remove" if dry_run else "removed"
            click.echo(f"{verb} {', '.join(found)}: {human_size(total['bytes'])} in all")
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    if report.errors:
        sys.exit(1)
