from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest

import dosirak as dk
from dosirak.errors import ModelError, ModelTrustError
from dosirak.models.model import ModelVersion

torch = pytest.importorskip("torch")


class Tower(torch.nn.Module):
    """A user module whose constructor arguments are kept as attributes."""

    def __init__(self, width: int = 8, depth: int = 2, act: str = "relu") -> None:
        super().__init__()
        self.width, self.depth, self.act = width, depth, act
        self.layers = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(depth))
        self.register_buffer("scale", torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x * self.scale


class Opaque(torch.nn.Module):
    """A module whose constructor argument is not kept: needs the pickled architecture."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(n, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


class Tied(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(4, 4, bias=False)
        self.b = torch.nn.Linear(4, 4, bias=False)
        self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def untrusted_copy(version: ModelVersion, tmp_path: Path) -> ModelVersion:
    """The version as it would come out of an imported bundle."""
    target = tmp_path / "imported"
    shutil.copytree(version.path, target)
    return ModelVersion.from_directory(target, trusted=False)


def test_torch_sequential_round_trips_without_pickle(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Dropout(0.25), torch.nn.Linear(4 * 8 * 8, 3))
    net.eval()(torch.randn(2, 1, 8, 8))
    version = dk.models.save("net", net)
    assert version.framework == "pytorch" and not version.needs_trust
    assert set(version.files) == {"weights.safetensors"}
    loaded = untrusted_copy(version, tmp_path).load()  # no pickle: loads even untrusted
    x = torch.randn(5, 1, 8, 8)
    assert not loaded.training
    assert torch.equal(loaded(x), net.eval()(x))
    assert repr(loaded) == repr(net)


def test_torch_user_module_with_buffers_and_module_list_round_trips(tmp_path: Path) -> None:
    net = Tower(width=6, depth=3)
    with torch.no_grad():
        net.scale.mul_(3)
    version = dk.models.save("tower", net)
    assert version.handler_info["architecture"]["kind"] == "spec"
    loaded = untrusted_copy(version, tmp_path).load()
    x = torch.randn(2, 6)
    assert isinstance(loaded, Tower) and loaded.depth == 3
    assert torch.equal(loaded(x), net(x))


def test_torch_tied_weights_are_saved_once_and_loaded(tmp_path: Path) -> None:
    net = Tied()
    version = dk.models.save("tied", net)
    assert version.handler_info["shared"] == {"b.weight": "a.weight"}
    loaded = dk.models.get("tied:1").load()
    x = torch.randn(3, 4)
    assert torch.equal(loaded(x), net(x))


def test_torch_module_that_cannot_be_described_needs_trust_from_an_untrusted_source(tmp_path: Path) -> None:
    net = Opaque(5)
    version = dk.models.save("opaque", net)
    assert version.handler_info["architecture"]["kind"] == "pickle" and version.needs_trust
    x = torch.randn(2, 5)
    assert torch.equal(dk.models.get("opaque").load()(x), net(x))  # saved here: trusted
    imported = untrusted_copy(version, tmp_path)
    with pytest.raises(ModelTrustError, match="trusted=True"):
        imported.load()
    assert torch.equal(imported.load(trusted=True)(x), net(x))


def test_torch_init_args_option_describes_an_opaque_module(tmp_path: Path) -> None:
    net = Opaque(5)
    version = dk.models.save("opaque", net, options={"init_args": {"n": 5}})
    assert not version.needs_trust
    x = torch.randn(2, 5)
    assert torch.equal(untrusted_copy(version, tmp_path).load()(x), net(x))


def test_torch_spec_naming_a_non_module_callable_is_refused(tmp_path: Path) -> None:
    import yaml

    version = dk.models.save("net", torch.nn.Linear(2, 2))
    imported = tmp_path / "evil"
    shutil.copytree(version.path, imported)
    data = yaml.safe_load((imported / "model.yaml").read_text())
    data["handler"]["architecture"]["spec"] = {"class": "os:system", "args": ["true"], "kwargs": {}}
    (imported / "model.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ModelError, match="not a torch.nn.Module subclass"):
        ModelVersion.from_directory(imported, trusted=False).load()


def test_sklearn_round_trips_with_skops_without_pickle(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)), rng.integers(0, 2, size=40)
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)).fit(x, y)
    version = dk.models.save("rf", model)
    assert version.framework == "sklearn" and version.handler_info["format"] == "skops"
    loaded = untrusted_copy(version, tmp_path).load()
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_onnx_round_trips() -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    version = dk.models.save("relu", model)
    assert version.framework == "onnx" and version.handler_info["inputs"] == ["x"]
    loaded = dk.models.load("relu")
    assert isinstance(loaded, onnx.ModelProto)
    assert loaded.SerializeToString() == model.SerializeToString()


def test_pickle_fallback_loads_here_but_needs_trust_from_an_imported_bundle(tmp_path: Path) -> None:
    version = dk.models.save("thing", {"weights": [1, 2, 3]})
    assert version.framework == "pickle" and version.needs_trust
    assert dk.models.load("thing") == {"weights": [1, 2, 3]}
    imported = untrusted_copy(version, tmp_path)
    with pytest.raises(ModelTrustError, match="trusted=True"):
        imported.load()
    assert imported.load(trusted=True) == {"weights": [1, 2, 3]}


class Mixed(torch.nn.Module):
    """Tensors of several dtypes, an empty one and a scalar, for the weights file's digest."""

    def __init__(self) -> None:
        super().__init__()
        self.half = torch.nn.Linear(3, 5).to(torch.bfloat16)
        self.norm = torch.nn.BatchNorm1d(5)  # float32 and an int64 counter
        self.register_buffer("empty", torch.zeros(0))
        self.register_buffer("scalar", torch.tensor(3.0, dtype=torch.float64))
        self.register_buffer("mask", torch.tensor([True, False]))
        self.register_buffer("f16", torch.arange(7, dtype=torch.float16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.half(x.to(torch.bfloat16)).float())


@pytest.mark.parametrize("make", [Mixed, Tied, lambda: torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())])
def test_torch_weights_digest_is_computed_while_saving_and_matches_the_file(make: Any) -> None:
    from dosirak.models import store

    with mock.patch.object(store, "hash_file", side_effect=AssertionError("the weights file was read back")):
        version = dk.models.save("net", make())
    weights = version.path / "weights.safetensors"
    assert version.files["weights.safetensors"] == {"sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                                                    "size": weights.stat().st_size}
    version.load(verify=True)


def test_torch_weights_digest_falls_back_to_reading_the_file_when_the_layout_is_unexpected(tmp_path: Path) -> None:
    from dosirak.models.frameworks import torch as handler

    net = torch.nn.Linear(2, 3)
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    path = tmp_path / "w.safetensors"
    from safetensors.torch import save_file

    save_file(tensors, str(path))
    assert handler._written_digest(path, tensors) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert handler._written_digest(path, {"weight": tensors["weight"]}) is None  # a tensor it was not given
    assert handler._written_digest(path, {**tensors, "bias": torch.zeros(4)}) is None  # a size that does not fit
    with open(path, "ab") as fh:
        fh.write(b"x")
    assert handler._written_digest(path, tensors) is None  # bytes beyond the last tensor


class _InitSpy:
    """An init function that dispatches like ``torch.nn.init``'s and records real calls."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, tensor: Any, a: float = 0.0, b: float = 1.0) -> Any:
        if torch.overrides.has_torch_function_variadic(tensor):
            return torch.overrides.handle_torch_function(self, (tensor,), tensor, a=a, b=b)
        self.calls.append(tensor)
        return tensor


@pytest.mark.parametrize("one_mode", [True, False], ids=["device-context-subclass", "public-modes"])
def test_meta_build_skips_initialisation_of_meta_tensors(monkeypatch: pytest.MonkeyPatch, one_mode: bool) -> None:
    from dosirak.models.frameworks import torch as handler

    spy = _InitSpy()
    monkeypatch.setattr(torch.nn.init, "uniform_", spy)  # picked up by the mode built below
    device_context = handler._device_context(torch) if one_mode else None
    meta_no_init = handler._meta_no_init_mode(torch, device_context)
    with meta_no_init():
        weight = torch.empty(3, 2)
        torch.nn.init.uniform_(weight)
        weight.normal_()
        real = torch.empty(2, device="cpu")
        torch.nn.init.uniform_(real)
        linear = torch.nn.Linear(784, 512)
    assert weight.is_meta and linear.weight.is_meta and tuple(linear.weight.shape) == (512, 784)
    assert [t.device.type for t in spy.calls] == ["cpu"]  # only the real tensor was filled
    assert torch.empty(1).device.type == "cpu"  # the device is restored afterwards


def test_torch_spec_check_still_compares_each_module_after_the_architecture_was_seen(tmp_path: Path) -> None:
    assert dk.models.save("tower", Tower(width=6, depth=2)).handler_info["architecture"]["kind"] == "spec"
    changed = Tower(width=6, depth=2)
    changed.layers[0] = torch.nn.Linear(6, 6, bias=False)  # same constructor arguments, other parameters
    version = dk.models.save("tower", changed)
    assert version.handler_info["architecture"]["kind"] == "pickle"
    x = torch.randn(2, 6)
    assert torch.equal(version.load()(x), changed(x))


@pytest.mark.parametrize(("framework_key", "make"), [
    ("file", lambda: {"weights": [1, 2, 3]}),                 # pickle
    ("weights", lambda: torch.nn.Sequential(torch.nn.Linear(2, 2))),  # torch
])
def test_a_crafted_model_yaml_cannot_point_a_handler_outside_its_directory(
        tmp_path: Path, framework_key: str, make: Any) -> None:
    """model.yaml comes with an imported bundle: its file names are refused if they lead elsewhere."""
    import yaml

    version = dk.models.save("crafted", make())
    imported = tmp_path / "imported"
    shutil.copytree(version.path, imported)
    (tmp_path / "elsewhere.bin").write_bytes(b"not yours")
    described = yaml.safe_load((imported / "model.yaml").read_text())
    described["handler"][framework_key] = "../elsewhere.bin"
    described["files"]["../elsewhere.bin"] = {"sha256": "0" * 64, "size": 9}
    (imported / "model.yaml").write_text(yaml.safe_dump(described))
    with pytest.raises(ModelError, match="refusing path '../elsewhere.bin'"):
        ModelVersion.from_directory(imported, trusted=True).load(verify=False)
    with pytest.raises(ModelError, match="refusing path '../elsewhere.bin'"):
        ModelVersion.from_directory(imported, trusted=True).load(verify=True)
