"""``dosirak gc``: find and remove the files no run, model or bundle refers to."""

from __future__ import annotations

import sys

import click

from dosirak.artifacts.gc import GcReport, Roots, collect
from dosirak.artifacts.remote_gc import remote_orphans, remove
from dosirak.artifacts.shared import active_remote_store
from dosirak.artifacts.store import FsspecArtifactStore
from dosirak.cli._render import json_option, print_json, table
from dosirak.metadata.store import get_store
from dosirak.units import human_size


@click.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@json_option
def gc(dry_run: bool, as_json: bool) -> None:
    """Remove what killed runs, saves and builds left below the dosirak home and in the
    active stack's remote artifact store (S3).

    \b
    staging      partial outputs of runs that were killed mid-write
    artifact     outputs published but never recorded (killed, or the disk was full);
                 in a remote store: objects under RUN/STEP/OUTPUT of an ended run
                 that no artifact row names
    model-tmp    model saves whose process was killed
    bundle-tmp   bundle builds and imports whose process was killed
    model        model version directories no version row names
    bundle       bundle directories no bundle row names (left alone for an hour)

    Nothing a row refers to, nothing of a run still running, nothing outside the
    home's artifacts/, models/ and bundles/ (and the remote store's RUN_ID/ prefixes
    of runs this metadata store knows) is ever removed; symlinks are not followed.
    Exits with status 1 if something could not be removed.
    """
    store = get_store()
    report = collect(store, Roots.of_home(), dry_run=dry_run)
    remote = active_remote_store()
    if isinstance(remote, FsspecArtifactStore):  # the active stack's artifact store on S3, say
        leftovers = remote_orphans(store, remote)
        errors = [] if dry_run else remove(remote, leftovers)
        report = GcReport(tuple(leftovers) + report.orphans, dry_run, tuple(errors) + report.errors)
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
