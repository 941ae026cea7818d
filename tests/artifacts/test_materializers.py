"""Materializers: every built-in type round-trips; pickle is the warned last resort; users add their own."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dosirak import Materializer, pipeline, step
from dosirak.artifacts.materializers import registry
from dosirak.artifacts.materializers.builtins import BytesMaterializer, JSONMaterializer, PathMaterializer
from dosirak.artifacts.materializers.numpy import MMAP_THRESHOLD, NumpyMaterializer
from dosirak.artifacts.materializers.pickle import PickleMaterializer
from dosirak.errors import ArtifactCorruptError, MaterializerError


def round_trip(obj: Any, tmp_path: Path, data_type: type | None = None) -> tuple[Materializer, Any]:
    materializer = registry.for_type(type(obj))
    target = tmp_path / "artifact"
    target.mkdir()
    materializer.save(obj, target)
    return materializer, materializer.load(target, data_type)


@pytest.mark.parametrize("value", [
    0, -7, 2**70, 1.5, -0.0, "text", "", "ünïcødé", True, False, None,
    [1, "a", None, [2.5]], (1, (2, "b")), {"a": {"b": [1, (2, 3)]}, "c": None}, [],
], ids=repr)
def test_json_values_round_trip_exactly(value: Any, tmp_path: Path) -> None:
    materializer, loaded = round_trip(value, tmp_path)
    assert isinstance(materializer, JSONMaterializer)
    assert loaded == value
    assert type(loaded) is type(value)


def test_tuples_nested_in_lists_and_dicts_come_back_as_tuples(tmp_path: Path) -> None:
    _, loaded = round_trip({"pairs": [(1, 2), (3, 4)]}, tmp_path)
    assert loaded == {"pairs": [(1, 2), (3, 4)]}
    assert all(type(p) is tuple for p in loaded["pairs"])


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_round_trip(value: float, tmp_path: Path) -> None:
    _, loaded = round_trip(value, tmp_path)
    assert isinstance(loaded, float)
    assert (math.isnan(loaded) and math.isnan(value)) or loaded == value


def test_non_finite_floats_inside_containers_round_trip(tmp_path: Path) -> None:
    _, loaded = round_trip({"scores": [1.0, math.inf, -math.inf], "t": (math.nan,)}, tmp_path)
    assert loaded["scores"] == [1.0, math.inf, -math.inf]
    assert math.isnan(loaded["t"][0])


def test_a_dict_with_non_string_keys_is_a_materializer_error(tmp_path: Path) -> None:
    with pytest.raises(MaterializerError, match="cannot save dict as JSON: dict key 1 is not a string"):
        round_trip({1: "a"}, tmp_path)


def test_bytes_round_trip(tmp_path: Path) -> None:
    materializer, loaded = round_trip(bytes(range(256)) * 3, tmp_path)
    assert isinstance(materializer, BytesMaterializer)
    assert loaded == bytes(range(256)) * 3


def test_a_path_to_a_file_round_trips_as_a_copy(tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00\x01weights")
    materializer, loaded = round_trip(source, tmp_path)
    assert isinstance(materializer, PathMaterializer)
    assert loaded.name == "weights.bin"
    assert loaded.read_bytes() == b"\x00\x01weights"
    assert loaded != source


def test_a_path_to_a_directory_round_trips_with_its_tree(tmp_path: Path) -> None:
    source = tmp_path / "dataset"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "sub" / "b.txt").write_text("b")
    _, loaded = round_trip(source, tmp_path)
    assert sorted(p.relative_to(loaded).as_posix() for p in loaded.rglob("*") if p.is_file()) == ["a.txt", "sub/b.txt"]
    assert (loaded / "sub" / "b.txt").read_text() == "b"


def test_a_path_that_does_not_exist_is_a_materializer_error(tmp_path: Path) -> None:
    with pytest.raises(MaterializerError, match="does not exist"):
        round_trip(tmp_path / "missing", tmp_path)


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.int64).reshape(3, 4),
    np.array([1.5, np.nan, np.inf], dtype=np.float32),
    np.array([True, False]),
    np.zeros((0, 3)),
    np.array(["a", "bc"]),
], ids=["int64", "float32-nonfinite", "bool", "empty", "unicode"])
def test_numpy_arrays_round_trip_with_dtype_and_shape(array: np.ndarray, tmp_path: Path) -> None:
    materializer, loaded = round_trip(array, tmp_path)
    assert isinstance(materializer, NumpyMaterializer)
    assert loaded.dtype == array.dtype
    assert loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)
    assert not isinstance(loaded, np.memmap)


def test_a_large_numpy_array_loads_memory_mapped_read_only(tmp_path: Path) -> None:
    array = np.arange(MMAP_THRESHOLD // 8 + 1000, dtype=np.float64)
    _, loaded = round_trip(array, tmp_path)
    assert isinstance(loaded, np.memmap)
    assert not loaded.flags.writeable
    np.testing.assert_array_equal(loaded, array)


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MaterializerError, match="dtype=object"):
        round_trip(np.array([{"a": 1}], dtype=object), tmp_path)


def test_numpy_summary_describes_the_array() -> None:
    summary = NumpyMaterializer().summary(np.array([1.0, 3.0, np.nan]))
    assert summary["shape"] == [3]
    assert summary["min"] == 1.0 and summary["max"] == 3.0
    assert sum(summary["histogram"]["counts"]) == 2


def test_pandas_dataframe_round_trips(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [0.5, np.nan, 2.0]})
    materializer, loaded = round_trip(frame, tmp_path)
    assert type(materializer).__name__ == "DataFrameMaterializer"
    pd.testing.assert_frame_equal(loaded, frame)


class TinyNet:
    """Built lazily so that importing this module does not import torch."""

    @staticmethod
    def build() -> Any:
        torch = pytest.importorskip("torch")

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.linear = torch.nn.Linear(3, 2)

            def forward(self, x: Any) -> Any:
                return self.linear(x)

        return Net()


def test_torch_module_round_trips_with_its_weights(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    net = TinyNet.build()
    materializer, loaded = round_trip(net, tmp_path)
    assert type(materializer).__name__ == "ModuleMaterializer"
    x = torch.ones(1, 3)
    torch.testing.assert_close(loaded(x), net(x))
    assert materializer.summary(net)["parameters"] == 8


def test_torch_tensor_round_trips(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    materializer, loaded = round_trip(tensor, tmp_path)
    assert type(materializer).__name__ == "TensorMaterializer"
    torch.testing.assert_close(loaded, tensor)


def test_sklearn_estimator_round_trips_and_predicts_the_same(tmp_path: Path) -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = linear_model.LogisticRegression().fit(x, [0, 0, 1, 1])
    materializer, loaded = round_trip(model, tmp_path)
    assert type(materializer).__name__ == "EstimatorMaterializer"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_pil_image_round_trips_losslessly(tmp_path: Path) -> None:
    image_mod = pytest.importorskip("PIL.Image")
    image = image_mod.new("RGB", (4, 3))
    image.putpixel((1, 2), (10, 20, 30))
    materializer, loaded = round_trip(image, tmp_path)
    assert type(materializer).__name__ == "ImageMaterializer"
    assert (loaded.mode, loaded.size) == ("RGB", (4, 3))
    assert loaded.tobytes() == image.tobytes()


class Unregistered:
    def __init__(self, value: int) -> None:
        self.value = value


def test_pickle_is_the_fallback_with_a_one_time_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class OncePerType:
        def __init__(self, value: int) -> None:
            self.value = value

    caplog.set_level(logging.WARNING, logger="dosirak.artifacts.materializers.pickle")
    materializer, loaded = round_trip(OncePerType(3), tmp_path)
    assert isinstance(materializer, PickleMaterializer)
    assert loaded.value == 3
    second = tmp_path / "second"
    second.mkdir()
    materializer.save(OncePerType(4), second)
    warnings = [r.getMessage() for r in caplog.records if "no materializer for" in r.getMessage()]
    assert len(warnings) == 1
    assert "OncePerType: storing it with cloudpickle" in warnings[0]


@pytest.mark.parametrize("make", [lambda: (i for i in range(3)), threading.Lock], ids=["generator", "lock"])
def test_objects_that_cannot_be_pickled_are_a_materializer_error(make: Any, tmp_path: Path) -> None:
    with pytest.raises(MaterializerError, match=r"no materializer for type .*cannot be pickled.*register a Materializer"):
        round_trip(make(), tmp_path)


class Point:
    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y


class PointMaterializer(Materializer):
    version = "3"

    def save(self, obj: Point, path: Path) -> None:
        (path / "point.json").write_text(json.dumps([obj.x, obj.y]))

    def load(self, path: Path, data_type: type | None) -> Point:
        return Point(*json.loads((path / "point.json").read_text()))


@pytest.fixture
def point_materializer() -> Iterator[None]:
    registry.register(Point, PointMaterializer)
    yield
    registry._registered.pop(registry.qualified_name(Point), None)
    registry._instances.clear()


@pytest.mark.usefixtures("point_materializer")
def test_a_user_materializer_registered_in_process_saves_and_loads_through_a_pipeline() -> None:
    @step
    def make_point() -> Point:
        return Point(1.5, -2.0)

    @step
    def norm(p: Point) -> float:
        return math.hypot(p.x, p.y)

    @pipeline
    def points() -> None:
        norm(make_point())

    run = points()
    artifact = run.steps["make_point"].output
    assert artifact.materializer == PointMaterializer.qualified_name()
    assert artifact.type.endswith("test_materializers.Point")
    loaded = artifact.load()
    assert (loaded.x, loaded.y) == (1.5, -2.0)
    assert run.steps["norm"].output.load() == 2.5
    assert run.steps["norm"].record.cache_parts["materializers"]["in:p"].endswith("PointMaterializer@3")


def test_registering_something_that_is_not_a_materializer_is_refused() -> None:
    with pytest.raises(MaterializerError, match="is not a Materializer subclass"):
        registry.register(Point, dict)  # type: ignore[arg-type]


def test_lookup_walks_the_mro_and_prefers_the_most_specific() -> None:
    class MyList(list):  # type: ignore[type-arg]
        pass

    assert registry.materializer_class_for(MyList) is JSONMaterializer
    assert registry.materializer_class_for(bool) is JSONMaterializer
    assert registry.materializer_class_for(Unregistered) is None
    assert registry.qualified_name(type(None)) == "builtins.NoneType"


@pytest.mark.parametrize(("materializer", "filename", "garbage"), [
    (JSONMaterializer(), "data.json", b"{not json"),
    (NumpyMaterializer(), "array.npy", b"not an npy file"),
    (PickleMaterializer(), "object.pkl", b"not a pickle"),
], ids=["json", "numpy", "pickle"])
def test_a_corrupt_artifact_file_is_an_artifact_corrupt_error(
    materializer: Materializer, filename: str, garbage: bytes, tmp_path: Path
) -> None:
    (tmp_path / filename).write_bytes(garbage)
    with pytest.raises(ArtifactCorruptError, match=filename):
        materializer.load(tmp_path, None)


@pytest.mark.parametrize("materializer", [
    JSONMaterializer(), BytesMaterializer(), PathMaterializer(), NumpyMaterializer(), PickleMaterializer(),
], ids=lambda m: type(m).__name__)
def test_a_missing_artifact_file_is_an_artifact_corrupt_error(materializer: Materializer, tmp_path: Path) -> None:
    with pytest.raises(ArtifactCorruptError, match="missing"):
        materializer.load(tmp_path, None)


def test_loading_an_artifact_whose_files_were_damaged_or_deleted_is_an_artifact_corrupt_error() -> None:
    @step
    def numbers() -> list[int]:
        return [1, 2, 3]

    @pipeline
    def damaged() -> None:
        numbers()

    artifact = damaged().steps["numbers"].output
    (Path(artifact.uri) / "data.json").write_text("[1, 2")
    with pytest.raises(ArtifactCorruptError, match="not valid JSON"):
        artifact.load()
    import shutil

    shutil.rmtree(artifact.uri)
    with pytest.raises(ArtifactCorruptError, match="is missing; it was deleted or the artifact store moved"):
        artifact.load()


def test_bumping_a_materializer_version_misses_the_cache() -> None:
    class PointMaterializerV4(PointMaterializer):
        version = "4"

    @step
    def origin() -> Point:
        return Point(0.0, 0.0)

    @pipeline
    def versioned() -> None:
        origin()

    try:
        registry.register(Point, PointMaterializer)
        versioned()
        assert versioned().steps["origin"].status == "cached"
        registry.register(Point, PointMaterializerV4)
        again = versioned().steps["origin"]
        assert again.status == "completed"
        assert again.record.cache_parts["materializers"]["out:output"].endswith("PointMaterializerV4@4")
    finally:
        registry._registered.pop(registry.qualified_name(Point), None)
        registry._instances.clear()
