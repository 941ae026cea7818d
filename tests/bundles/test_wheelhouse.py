"""Wheels for images: dosirak's own wheel, wheels repacked from installed files, the wheelhouse."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from dosirak.bundles.wheelhouse import (
    canonical,
    dosirak_wheel,
    fill,
    hashed_requirements,
    installed_constraints,
    repack,
    wheel_requirements,
)


def test_a_wheel_repacked_from_installed_files_installs_and_imports(tmp_path: Path) -> None:
    click = metadata.distribution("click")
    wheel = repack(click, tmp_path)
    assert wheel.name == f"click-{click.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record = archive.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode().splitlines()
        assert not any("__pycache__" in n or n.endswith((".pyc", "INSTALLER", "direct_url.json")) for n in names)
        for line in record:
            name, hashed, size = line.rsplit(",", 2)
            if hashed:
                data = archive.read(name)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert hashed == f"sha256={digest}" and int(size) == len(data)
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target",
                    str(target), str(wheel)], check=True)
    probe = f"import sys; sys.path.insert(0, {str(target)!r}); import click; print(click.__file__)"
    out = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.startswith(str(target))
    (tmp_path / "again").mkdir()
    assert repack(click, tmp_path / "again").read_bytes() == wheel.read_bytes()  # the same files, the same wheel


def test_the_dosirak_wheel_holds_the_running_source(tmp_path: Path) -> None:
    wheel = dosirak_wheel(tmp_path)
    import dosirak

    with zipfile.ZipFile(wheel) as archive:
        packed = archive.read("dosirak/bundles/wheelhouse.py")
        assert "dosirak/bundles/templates/Dockerfile.j2" in archive.namelist()
    assert packed == Path(dosirak.__file__).with_name("bundles").joinpath("wheelhouse.py").read_bytes()
    requirements = wheel_requirements(wheel)
    assert any(r.startswith("click") for r in requirements) and not any("extra ==" in r for r in requirements)
    assert not any(canonical(r.split(">")[0]) == "torch" for r in requirements)  # an extra, not a dependency


def test_constraints_pin_what_is_installed_and_leave_dosirak_out() -> None:
    pins, _links = installed_constraints()
    by_name = {canonical(p.split("==")[0]): p.split("==")[1] for p in pins}
    assert by_name["numpy"] == metadata.version("numpy") and by_name["click"] == metadata.version("click")
    assert "dosirak" not in by_name


@pytest.mark.slow
def test_the_wheelhouse_holds_every_dependency_at_its_installed_version(tmp_path: Path) -> None:
    own = dosirak_wheel(tmp_path / "own")
    pins = fill(tmp_path / "wheels", dosirak_wheel_path=own, requirements=[f"PyYAML=={metadata.version('PyYAML')}"],
                cache=tmp_path / "cache")
    by_name = {canonical(p.split("==")[0]): p.split("==")[1] for p in pins}
    click = next(wheel for pin, wheel in pins.items() if pin.lower().startswith("click=="))
    assert f"--hash=sha256:{hashlib.sha256(click.read_bytes()).hexdigest()}" in hashed_requirements(pins)
    for name in ("click", "pydantic", "starlette", "uvicorn", "numpy", "pyyaml"):
        assert by_name[name] == metadata.version(name), name
    assert "dosirak" not in by_name and "torch" not in by_name
    wheels = sorted(p.name for p in (tmp_path / "wheels").glob("*.whl"))
    assert len(wheels) == len(pins) and sorted(p.name for p in (tmp_path / "cache").glob("*.whl")) == wheels
    assert not (tmp_path / "constraints.txt").exists()
