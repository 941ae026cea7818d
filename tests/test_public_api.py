"""The public names of ``dosirak``: ``__all__``, the lazy table and what type checkers see agree.

As httpx pins its ``__all__``: the names a user may import are listed three times in
``src/dosirak/__init__.py`` (``__all__``, the ``_LAZY`` table imported on first use, the
``TYPE_CHECKING`` imports type checkers read), so a name added to one and not the others
fails here. A user's type checker must see real types, not ``Any``: mypy runs on a small
service and pipeline file and every revealed type is checked, with the component classes
that :func:`dosirak.stack.flavors.flavor_class` gives plugin authors.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dosirak

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT / "src" / "dosirak" / "__init__.py"


def _assigned(tree: ast.Module, name: str) -> ast.expr:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            assert node.value is not None  # type: ignore[union-attr]
            return node.value  # type: ignore[union-attr]
    raise AssertionError(f"{name} is not assigned in {INIT}")


def _type_checking_imports(tree: ast.Module) -> dict[str, str]:
    """{bound name: "module:attribute"} of the imports under ``if TYPE_CHECKING:``."""
    blocks = [n for n in tree.body if isinstance(n, ast.If) and isinstance(n.test, ast.Name)
              and n.test.id == "TYPE_CHECKING"]
    assert len(blocks) == 1, "one `if TYPE_CHECKING:` block"
    bound: dict[str, str] = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom) and node.module, ast.unparse(node)
        for alias in node.names:
            assert alias.asname == alias.name, f"re-export explicitly: `import {alias.name} as {alias.name}`"
            submodule = f"{node.module}.{alias.name}"
            is_module = importlib.util.find_spec(submodule) is not None if node.module == "dosirak" else False
            bound[alias.name] = f"{submodule}:" if is_module else f"{node.module}:{alias.name}"
    return bound


@pytest.fixture(scope="module")
def init_tree() -> ast.Module:
    return ast.parse(INIT.read_text(encoding="utf-8"))


def test_all_lists_the_lazy_names_and_the_version_in_order(init_tree: ast.Module) -> None:
    all_names = ast.literal_eval(_assigned(init_tree, "__all__"))
    lazy = ast.literal_eval(_assigned(init_tree, "_LAZY"))
    assert all_names == sorted(all_names)
    assert set(all_names) == {*lazy, "__version__"}
    assert all_names == dosirak.__all__


def test_type_checkers_see_every_lazy_name_from_the_same_place(init_tree: ast.Module) -> None:
    lazy = ast.literal_eval(_assigned(init_tree, "_LAZY"))
    assert _type_checking_imports(init_tree) == lazy


def test_every_public_name_resolves_to_the_object_its_table_entry_names() -> None:
    for name, target in dosirak._LAZY.items():
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        assert getattr(dosirak, name) is (getattr(module, attr) if attr else module), name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dosirak.nope  # type: ignore[attr-defined]  # noqa: B018


USER_FILE = '''
from typing import Annotated

import dosirak as dk
from dosirak.stack.flavors import flavor_class


@dk.service(name="echo")
class Echo:
    model = dk.model_ref("echo:latest")

    @dk.api
    def say(self, text: str) -> str:
        return text

    @dk.api(batchable=True)
    def many(self, texts: list[str]) -> list[str]:
        return texts


@dk.step
def make() -> Annotated[int, "n"]:
    return 1


@dk.pipeline
def chain() -> None:
    make()


reveal_type(dk.service)
reveal_type(Echo)
reveal_type(dk.model_ref)
reveal_type(Echo.model)
reveal_type(Echo().say)
reveal_type(dk.api)
reveal_type(dk.step)
reveal_type(make)
reveal_type(dk.pipeline)
reveal_type(chain)
reveal_type(chain().status)
reveal_type(chain().start_time)
reveal_type(chain().steps["make"].status)
reveal_type(chain().steps["make"].duration_s)
reveal_type(chain().steps["make"].output.size)
reveal_type(dk.get_step_context)
reveal_type(dk.Client)
reveal_type(dk.Client().list_runs)
reveal_type(dk.Materializer)
reveal_type(dk.ModelOutput)
reveal_type(dk.Tensor)
reveal_type(dk.ServiceClient)
reveal_type(dk.AsyncServiceClient)
reveal_type(dk.models.save)
reveal_type(dk.errors.DosirakError)
reveal_type(dk.__version__)
reveal_type(flavor_class("orchestrator", "local"))
reveal_type(flavor_class("artifact-store", "local"))
reveal_type(flavor_class("model-deployer", "local"))
dk.Client().list_runs(status="complete")  # a misspelled status: an error
'''


def _results(revealed: str) -> str:
    """A revealed type without its functions' parameter lists: what calling it gives (``def -> T``)."""
    while True:
        shorter = re.sub(r"def (\[[^\[\]]*\] )?\([^()]*\)", "def", revealed)
        if shorter == revealed:
            return revealed
        revealed = shorter


@pytest.mark.slow
def test_a_users_type_checker_sees_types_not_any(tmp_path: Path) -> None:
    user = tmp_path / "user_code.py"
    user.write_text(textwrap.dedent(USER_FILE), encoding="utf-8")
    # As in a user's project: --strict on their file, dosirak's own modules checked but not reported.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-error-summary",
         "--cache-dir", str(tmp_path / "cache"), str(user)],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={"MYPYPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    revealed = dict(re.findall(r":(\d+): note: Revealed type is \"(.*)\"", result.stdout))
    calls = [i + 1 for i, line in enumerate(textwrap.dedent(USER_FILE).splitlines()) if line.startswith("reveal_type")]
    assert sorted(map(int, revealed)) == calls, result.stdout + result.stderr
    lines = textwrap.dedent(USER_FILE).splitlines()
    shown = {lines[int(n) - 1][len("reveal_type("):-1]: t for n, t in revealed.items()}
    assert {name: t for name, t in shown.items() if re.search(r"\bAny\b", _results(t))} == {}, result.stdout
    assert shown["Echo"] == "def () -> user_code.Echo"
    assert shown["Echo.model"] == "dosirak.models.ref.ModelRef"
    assert shown["make"] == "dosirak.pipelines.step.Step"
    assert shown["chain"] == "dosirak.pipelines.pipeline.Pipeline"
    assert shown['flavor_class("orchestrator", "local")'] == "type[dosirak.orchestrators.base.BaseOrchestrator]"
    assert shown['flavor_class("artifact-store", "local")'] == "type[dosirak.artifacts.store.BaseArtifactStore]"
    assert shown['flavor_class("model-deployer", "local")'] == "type[dosirak.deployers.base.BaseDeployer]"
    assert all(f"'{s}'" in shown["chain().status"] for s in ("running", "completed", "failed"))
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and '"list_runs"' in errors[0] and "status" in errors[0], result.stdout
