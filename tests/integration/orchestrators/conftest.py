"""A Ray cluster per test module (``ray.init(num_cpus=2)`` in this process) and the ``ray`` flavor findable."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def write_entry_point(where: Path) -> None:
    """A distribution in ``where`` whose entry point registers the ``ray`` flavor (a plugin's way)."""
    info = where / "dosirak_ray_flavor-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dosirak-ray-flavor\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[dosirak.orchestrators]\nray = dosirak.orchestrators.ray:RayOrchestrator\n")


@contextmanager
def ray_flavor(where: Path) -> Iterator[None]:
    """Make the ``ray`` flavor findable as any plugin is (an entry point), if this install predates it."""
    from dosirak import plugins

    if plugins.has("orchestrators", "ray"):
        yield
        return
    write_entry_point(where)
    sys.path.append(str(where))
    plugins.clear_cache()
    try:
        yield
    finally:
        sys.path.remove(str(where))
        plugins.clear_cache()


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray with 2 CPUs and one ``special`` resource, for one module; its address.

    Its workers import this code (``src`` and the tests package); other processes (the CLI
    started by a test) join it at the address.
    """
    ray = pytest.importorskip("ray")
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="dosirak-ray-test-"))
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
        mp.setenv("DOSIRAK_HOME", str(Path(tmp) / "home"))
        mp.setenv("RAY_TMPDIR", str(Path(tmp) / "ray"))
        mp.setenv("RAY_AUTH_MODE", "disabled")  # no token file in ~/.ray for a cluster that lives one module
        stack.enter_context(ray_flavor(Path(tmp)))
        ray.init(num_cpus=2, resources={"special": 1}, include_dashboard=False, configure_logging=False,
                 _temp_dir=str(Path(tmp) / "ray"))
        try:
            yield str(ray.get_runtime_context().gcs_address)
        finally:
            ray.shutdown()


