"""``dosirak bundle``: build, list, show, verify, sign, delete, export, import and containerize bundles."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from dosirak.bundles import store
from dosirak.bundles.archive import export_bundle, import_bundle
from dosirak.bundles.container import build_image, describe, images, push_image
from dosirak.bundles.signing import enforce_policy, generate_key, read_signatures
from dosirak.bundles.signing import sign as sign_bundle
from dosirak.cli._render import json_option, print_json, table
from dosirak.errors import BundleError
from dosirak.settings import get_settings
from dosirak.units import human_size, parse_size


@click.group("bundle")
def bundle() -> None:
    """Immutable, verified bundles of a service, its models and its pinned requirements."""


@bundle.command("build")
@click.option("-f", "--file", "spec_file", type=click.Path(path_type=Path), default=Path("dosirak.yaml"),
              show_default=True, help="The build spec.")
@click.option("--name", default=None, help="Bundle name [default: the spec's, else the service's].")
@json_option
def build(spec_file: Path, name: str | None, as_json: bool) -> None:
    """Build a bundle from a dosirak.yaml build spec."""
    from dosirak.bundles.builder import build as build_bundle
    from dosirak.bundles.spec import load_spec

    if not spec_file.is_file():
        raise BundleError(f"no build spec at {spec_file}; write one with at least `service: FILE.py:Class`")
    spec = load_spec(spec_file)
    if name:
        spec = spec.model_copy(update={"name": name})
    record = build_bundle(spec, base_dir=spec_file.parent)
    if as_json:
        print_json(record)
        return
    click.echo(f"built {record.tag} ({human_size(record.size)}) at {record.path}")


@bundle.command("list")
@click.argument("name", required=False)
@json_option
def list_bundles(name: str | None, as_json: bool) -> None:
    """Bundles in the store, newest first."""
    records = store.list_bundles(name)
    if as_json:
        print_json(records)
        return
    table("bundles", ["tag", "service", "models", "size", "imported", "created"],
          [(r.tag, r.service, ", ".join(f"{m['name']}:{m['version']}" for m in r.models) or "-",
            human_size(r.size), "yes" if r.imported else "no", r.created_at) for r in records])


@bundle.command("show")
@click.argument("tag")
@json_option
def show(tag: str, as_json: bool) -> None:
    """A bundle's bundle.yaml: service, apis, models, requirements, lineage."""
    opened = store.open_bundle(tag, check=False)
    if as_json:
        print_json({"path": str(opened.path), **opened.info, "images": [describe(i) for i in _images(opened.path)]})
        return
    info = opened.info
    rows = [("tag", opened.tag), ("path", str(opened.path)), ("created", info.get("created_at")),
            ("service", opened.service), ("labels", info.get("labels")), ("python", info.get("python_version")),
            ("dosirak", info.get("dosirak_version")), ("lineage", info.get("lineage"))]
    table(f"bundle {opened.tag}", ["field", "value"], rows)
    table("apis", ["name", "route", "batchable", "max batch", "max latency ms"],
          [(a["name"], a["route"], a["batchable"], a["max_batch_size"], a["max_latency_ms"])
           for a in info.get("apis") or []])
    table("models", ["model", "framework", "tags", "path"],
          [(f"{m['name']}:{m['version']}", m["framework"], ", ".join(m.get("tags") or []), m["path"])
           for m in opened.models])
    table("requirements", ["pin"], [(line,) for line in info.get("requirements") or []])
    table("images", ["reference", "where", "digest", "builder", "size", "base image", "created"],
          [(i.reference, i.location, i.digest[:19], i.builder, human_size(i.size), i.base_image, i.created_at)
           for i in _images(opened.path)])


def _images(path: Path) -> list[Any]:
    """Images recorded against the bundle at ``path`` (none when the store does not know it)."""
    _path, record = store.resolve(path)
    return images(record.tag) if record is not None else []


@bundle.command("verify")
@click.argument("tag_or_path")
@json_option
def verify(tag_or_path: str, as_json: bool) -> None:
    """Re-check every file of a bundle against its MANIFEST, and check its signatures against the trusted keys."""
    opened = store.open_bundle(tag_or_path, check=False)
    report = opened.verify()
    present = read_signatures(opened.path)
    trusted = enforce_policy(opened.path, opened.tag)  # refuses (exit 1) when signatures are required and none is trusted
    trusted_ids = {k.key_id for k in trusted}
    signatures = [{"key_id": s.key_id, "key_name": s.key_name, "trusted": s.key_id in trusted_ids} for s in present]
    if as_json:
        print_json({"tag": opened.tag, "files": report.files, "bytes": report.bytes, "seconds": report.seconds,
                    "manifest_sha256": report.manifest_sha256, "signatures": signatures, "ok": True})
        return
    click.echo(f"{opened.tag}: {report.files} files, {human_size(report.bytes)} verified "
               f"({report.mb_per_s:.0f} MB/s); MANIFEST sha256 {report.manifest_sha256}")
    if not present:
        click.echo("not signed: the MANIFEST proves the files are consistent, not who built them "
                   "(`dosirak bundle sign`)")
    for sig in signatures:
        state = ("valid, by a trusted key" if sig["trusted"]
                 else "NOT trusted here (key not in DOSIRAK_TRUSTED_KEYS, or the signature does not match)")
        click.echo(f"signed by {sig['key_name']} ({sig['key_id']}): {state}")


@bundle.command("keygen")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The key's name, shown with each signature it makes (e.g. ml-team).")
def keygen(path: Path, name: str) -> None:
    """Make an Ed25519 key pair for signing bundles: PATH (private, mode 0600) and PATH.pub.

    Keep PATH secret; add the line in PATH.pub to the trusted keys file (DOSIRAK_TRUSTED_KEYS)
    of every machine that imports or serves your bundles.
    """
    public = generate_key(path, name=name)
    click.echo(f"wrote private key {path} and public key {path}.pub (id {public.key_id})\n{public.line()}")


@bundle.command("sign")
@click.argument("tag_or_path")
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True,
              help="Private key file made by `dosirak bundle keygen`.")
def sign(tag_or_path: str, key_path: Path) -> None:
    """Sign a bundle (verified first): proves who built it, to importers and servers that trust the key."""
    opened = store.open_bundle(tag_or_path, check=True)
    public = sign_bundle(opened.path, key_path)
    click.echo(f"signed {opened.tag} with {public.name} ({public.key_id})")


@bundle.command("delete")
@click.argument("tag")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(tag: str, yes: bool) -> None:
    """Delete a bundle (refused while a running deployment uses it)."""
    record = store.get(tag)
    if not yes:
        click.confirm(f"delete bundle {record.tag}?", abort=True)
    store.delete(record.tag)
    click.echo(f"deleted {record.tag}")


@bundle.command("export")
@click.argument("tag")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Archive file to write.")
def export(tag: str, output: Path) -> None:
    """Write a bundle as one archive file (verified first)."""
    path = export_bundle(tag, output)
    click.echo(f"exported {tag} to {path} ({human_size(path.stat().st_size)})")


def _size(_ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from exc
    if size <= 0:
        raise click.BadParameter("must be positive", param=param)
    return size


@bundle.command("import")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--max-size", callback=_size, default=None, metavar="SIZE",
              help="Refuse an archive unpacking to more than this [default: 16GiB, or DOSIRAK_IMPORT_MAX_BYTES].")
@click.option("--max-file-size", callback=_size, default=None, metavar="SIZE",
              help="Refuse an archive holding a file larger than this [default: 8GiB, or "
                   "DOSIRAK_IMPORT_MAX_FILE_BYTES].")
@click.option("--max-members", type=click.IntRange(min=1), default=None,
              help="Refuse an archive with more members than this [default: 10000, or DOSIRAK_IMPORT_MAX_MEMBERS].")
def import_(archive: Path, max_size: int | None, max_file_size: int | None, max_members: int | None) -> None:
    """Import a bundle archive: refuses unsafe paths, links and names, any file whose hash differs, and an
    archive over the size limits (checked from its headers before anything is extracted). A bundle already
    here with the same files is left as it is (and said so); one with other files is refused."""
    limits = get_settings().import_limits
    limits = replace(limits, max_bytes=max_size or limits.max_bytes,
                     max_file_bytes=max_file_size or limits.max_file_bytes,
                     max_members=max_members or limits.max_members)

    present = {b.tag for b in store.list_bundles()}
    record = import_bundle(archive, limits=limits)
    if record.tag in present:
        click.echo(f"{record.tag} is already in this store with the same files (at {record.path}); nothing to import")
    else:
        click.echo(f"imported {record.tag} at {record.path}")


@bundle.command("containerize")
@click.argument("tag")
@click.option("--builder", type=click.Choice(["auto", "docker", "podman", "buildah"]), default=None,
              help="Image builder [default: DOSIRAK_CONTAINER_BUILDER, else auto: the first of a Docker engine that "
                   "answers, podman, buildah].")
@click.option("--base-image", default=None, metavar="IMAGE",
              help="Image to start from [default: the bundle's docker.base_image, else DOSIRAK_CONTAINER_BASE_IMAGE, "
                   "else localhost/debian-python:bookworm, made here from Debian packages when missing].")
@click.option("--wheelhouse/--no-wheelhouse", default=True, show_default=True,
              help="Install every requirement from wheels taken from this environment (no network, the exact builds "
                   "installed here, e.g. CPU PyTorch); --no-wheelhouse installs them from an index by version.")
@click.option("--tag", "image", default=None, metavar="IMAGE:TAG", help="Image reference [default: localhost/NAME:VERSION].")
@click.option("--push", "repository", default=None, metavar="REPOSITORY",
              help="Then push to REGISTRY/PATH[:TAG] with the builder's own login (plain HTTP for a registry on "
                   "127.0.0.1/localhost) and record the pushed digest.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Directory for the build context [default: DOSIRAK_HOME/containers/NAME/VERSION].")
@click.option("--trusted/--untrusted", default=None,
              help="Let the image load pickled models [default: trusted when the bundle was built here].")
@click.option("--no-cache", is_flag=True, help="Rebuild every layer instead of reusing the builder's cached ones.")
@click.option("-q", "--quiet", is_flag=True, help="Do not show the builder's output (a failure still shows its last lines).")
@json_option
def containerize(tag: str, builder: str | None, base_image: str | None, wheelhouse: bool, image: str | None,
                 repository: str | None, output: Path | None, trusted: bool | None, no_cache: bool, quiet: bool,
                 as_json: bool) -> None:
    """Build the bundle's container image (and push it): `docker run IMAGE` serves on 3000, `docker run IMAGE serve` (SageMaker) on 8080."""
    def progress(line: str) -> None:
        click.echo(line, err=True)

    show = None if quiet or as_json else progress
    started = time.perf_counter()
    built = build_image(tag, builder=builder, base_image=base_image, wheelhouse=wheelhouse, image=image,
                        trusted=trusted, output=output, no_cache=no_cache, progress=show)
    seconds = time.perf_counter() - started
    pushed = push_image(built, repository, progress=show) if repository else None
    if as_json:
        print_json({"image": describe(built), "pushed": describe(pushed) if pushed else None,
                    "context": built.extra.get("context"), "seconds": round(seconds, 1)})
        return
    click.echo(f"built image {built.reference} ({built.digest[:19]}, {human_size(built.size)}) with {built.builder} "
               f"in {seconds:.0f} s from {built.base_image}; context {built.extra.get('context')}")
    if pushed is not None:
        click.echo(f"pushed {pushed.extra.get('tag')} as {pushed.reference}")
