from __future__ import annotations

import shutil
from pathlib import Path

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
