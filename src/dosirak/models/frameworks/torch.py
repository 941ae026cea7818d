"""PyTorch modules: weights as safetensors, the architecture as a JSON constructor spec.

The spec records, for every module in the tree, its class and the constructor arguments
found as attributes of the same name (``nn.Linear(in_features=784, out_features=512)``);
``nn.Sequential``, ``nn.ModuleList`` and ``nn.ModuleDict`` record their children. At save
time the spec is rebuilt on the ``meta`` device and compared with the module (parameter
names and shapes, and ``repr``). When that fails, because a constructor argument is not
kept as an attribute or the class cannot be imported by name, the architecture is
pickled instead (weights still in safetensors) and the version then loads from an
untrusted source only with ``trusted=True``. Pass ``options={"init_args": {...}}`` to
give the top module's constructor arguments explicitly.

Loading builds the module on the ``meta`` device with the ``torch.nn.init`` functions and
in-place random fills turned into no-ops for meta tensors (they have no values to fill),
assigns the weights, and returns it in eval mode. The save-time check of a spec is done
once per spec and set of classes in a process; each save still compares the module's
parameter shapes and ``repr`` with the rebuilt one.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import hashlib
import importlib
import inspect
import json
import logging
import os
import pickle
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dosirak._extras import require
from dosirak.errors import ModelError
from dosirak.models.frameworks.base import FrameworkHandler, model_file, refuse_pickle
from dosirak.models.store import remember_digest

log = logging.getLogger(__name__)

WEIGHTS = "weights.safetensors"
SKELETON = "architecture.pkl"
_MISSING = object()
#: In-place tensor methods that only change values, skipped on meta tensors while rebuilding.
_VALUE_FILLS = ("uniform_", "normal_", "zero_", "fill_", "random_", "bernoulli_", "exponential_",
                "geometric_", "log_normal_", "cauchy_")
#: Rebuilt-module signatures (parameter shapes, repr) by spec and classes; see ``_check_rebuild``.
_REBUILT: dict[tuple[str, tuple[type, ...]], tuple[dict[str, tuple[int, ...]], str]] = {}
_REBUILT_MAX = 64
_rebuilt_lock = threading.Lock()


class _NotDescribable(Exception):
    """The module cannot be described as a constructor spec."""


class TorchHandler(FrameworkHandler):
    """Saves ``torch.nn.Module`` objects without pickle where it can."""

    name = "pytorch"
    distributions = ("torch", "safetensors")

    def save(self, obj: Any, directory: Path, options: dict[str, Any]) -> dict[str, Any]:
        torch = require("torch", extra="torch", purpose="saving a PyTorch model")
        st = require("safetensors.torch", extra="torch", purpose="saving a PyTorch model")
        state = obj.state_dict()
        unique, shared = _dedupe(state)
        tensors = {k: v.detach().cpu().contiguous() for k, v in unique.items()}
        st.save_file(tensors, str(directory / WEIGHTS), metadata={"format": "pt"})
        digest = _written_digest(directory / WEIGHTS, tensors)
        if digest is not None:
            remember_digest(directory / WEIGHTS, digest)
        info: dict[str, Any] = {"weights": WEIGHTS, "shared": shared, "pickle": False,
                                "class": f"{type(obj).__module__}.{type(obj).__qualname__}"}
        try:
            spec = _describe(obj, torch, options.get("init_args"))
            _check_rebuild(spec, obj, state, torch)
        except _NotDescribable as exc:
            log.warning("cannot describe %s as a constructor spec (%s); its architecture is pickled, so loading "
                        "it from an imported bundle will need trusted=True", type(obj).__qualname__, exc)
            _save_skeleton(obj, directory / SKELETON, torch)
            info.update(architecture={"kind": "pickle", "file": SKELETON}, pickle=True)
        else:
            info["architecture"] = {"kind": "spec", "spec": spec}
        return info

    def load(self, directory: Path, info: dict[str, Any], *, allow_pickle: bool) -> Any:
        torch = require("torch", extra="torch", purpose="loading a PyTorch model")
        st = require("safetensors.torch", extra="torch", purpose="loading a PyTorch model")
        arch = info.get("architecture") or {}
        state = st.load_file(str(model_file(directory, info, "weights", WEIGHTS)))
        for duplicate, kept in (info.get("shared") or {}).items():
            state[duplicate] = state[kept]
        if arch.get("kind") == "spec":
            module = _build_on_meta(arch["spec"], torch)
        elif arch.get("kind") == "pickle":
            if not allow_pickle:
                raise refuse_pickle("this PyTorch model's architecture")

            with open(model_file(directory, arch, "file", SKELETON), "rb") as fh:
                module = pickle.load(fh)  # noqa: S301 - only reached for trusted sources
        else:
            raise ModelError(f"unknown PyTorch architecture format {arch.get('kind')!r}; upgrade dosirak")
        try:
            module.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            raise ModelError(f"the saved weights do not fit the rebuilt module: {exc}") from exc
        if _has_meta(module):
            if arch.get("kind") == "spec":
                # non-persistent buffers are not in the weights: build for real so __init__ sets them
                module = _build(arch["spec"], torch)
                module.load_state_dict(state, strict=True)
            if _has_meta(module):
                raise ModelError("the rebuilt module still has tensors without values (non-persistent buffers?)")
        return module.eval()


def _written_digest(path: Path, tensors: dict[str, Any]) -> str | None:
    """SHA-256 of the safetensors file just written, from its header and the tensors in memory.

    The file is the header's length (8 bytes), the header, then every tensor's bytes
    (little-endian) back to back in the order of their ``data_offsets``. Only the header is
    read back; None (hash the file instead) unless the offsets are contiguous, every
    tensor's size matches its range and the lengths add up to the file's size.
    """
    if sys.byteorder != "little":
        return None
    try:
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            header_bytes = fh.read(int.from_bytes(prefix, "little"))
            file_size = os.fstat(fh.fileno()).st_size
        header = json.loads(header_bytes)
        ranges = sorted((tuple(entry["data_offsets"]), name) for name, entry in header.items()
                        if name != "__metadata__")
    except (OSError, ValueError, TypeError, KeyError):
        return None
    digest = hashlib.sha256(prefix)
    digest.update(header_bytes)
    position = 0
    for (begin, end), name in ranges:
        tensor = tensors.get(name)
        if tensor is None or begin != position or not tensor.is_contiguous() or tensor.device.type != "cpu":
            return None
        nbytes = tensor.numel() * tensor.element_size()
        if nbytes != end - begin:
            return None
        if nbytes:
            digest.update((ctypes.c_ubyte * nbytes).from_address(tensor.data_ptr()))
        position = end
    if len(ranges) != len(tensors) or 8 + len(header_bytes) + position != file_size:
        return None
    return digest.hexdigest()


def _dedupe(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Tensors that share storage are saved once; ``shared`` maps the others to it."""
    seen: dict[tuple[int, int, tuple[int, ...]], str] = {}
    unique: dict[str, Any] = {}
    shared: dict[str, str] = {}
    for name, tensor in state.items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if tensor.numel() and key in seen:
            shared[name] = seen[key]
        else:
            seen[key] = name
            unique[name] = tensor
    return unique, shared


def _class_path(cls: type) -> str:
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise _NotDescribable(f"class {cls.__qualname__} is defined in {cls.__module__} and cannot be imported by name")
    try:
        found = _resolve(f"{cls.__module__}:{cls.__qualname__}")
    except ModelError as exc:
        raise _NotDescribable(str(exc)) from None
    if found is not cls:
        raise _NotDescribable(f"{cls.__module__}.{cls.__qualname__} does not import as the same class")
    return f"{cls.__module__}:{cls.__qualname__}"


@functools.lru_cache(maxsize=512)
def _init_parameters(cls: type) -> tuple[inspect.Parameter, ...]:
    """The constructor's parameters after ``self`` (inspecting a signature costs ~20 us)."""
    return tuple(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]


def _describe(module: Any, torch: Any, init_args: dict[str, Any] | None = None) -> dict[str, Any]:
    path = _class_path(type(module))
    nn = torch.nn
    if isinstance(module, nn.Sequential | nn.ModuleList | nn.ModuleDict) and init_args is None:
        names = list(module._modules)
        children = [_describe(child, torch) for child in module._modules.values()]
        if isinstance(module, nn.Sequential) and names == [str(i) for i in range(len(names))]:
            return {"class": path, "args": children, "kwargs": {}}
        if isinstance(module, nn.ModuleList):
            return {"class": path, "args": [{"__list__": children}], "kwargs": {}}
        return {"class": path, "args": [{"__ordered__": [[n, c] for n, c in zip(names, children, strict=True)]}],
                "kwargs": {}}
    if init_args is not None:
        return {"class": path, "args": [], "kwargs": {k: _encode(k, v, None, torch) for k, v in init_args.items()}}
    try:
        params = _init_parameters(type(module))  # type: ignore[arg-type]  # classes are hashable
    except (TypeError, ValueError) as exc:
        raise _NotDescribable(f"{path}: no inspectable constructor ({exc})") from None
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = getattr(module, p.name, _MISSING)
        if value is _MISSING:
            if p.default is p.empty:
                raise _NotDescribable(f"{path}: constructor argument '{p.name}' is not kept as an attribute")
            continue
        encoded = _encode(p.name, value, p.default, torch)
        if p.kind is p.POSITIONAL_ONLY:
            args.append(encoded)
        else:
            kwargs[p.name] = encoded
    return {"class": path, "args": args, "kwargs": kwargs}


def _encode(name: str, value: Any, default: Any, torch: Any) -> Any:
    if isinstance(value, torch.Tensor):
        if name == "bias" or isinstance(default, bool):
            return True  # e.g. nn.Linear(bias=True) keeps the bias parameter under that name
        raise _NotDescribable(f"argument '{name}' is a tensor")
    if value is None:
        return False if isinstance(default, bool) else None
    if isinstance(value, torch.nn.Module):
        return {"__module__": _describe(value, torch)}
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).removeprefix("torch.")}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(name, v, None, torch) for v in value]}
    if isinstance(value, list):
        return [_encode(name, v, None, torch) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(name, v, None, torch) for k, v in value.items()}}
    raise _NotDescribable(f"argument '{name}' is a {type(value).__qualname__}, not JSON data")


def _decode(value: Any, torch: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v, torch) for v in value]
    if not isinstance(value, dict):
        return value
    if "__module__" in value:
        return _build(value["__module__"], torch)
    if "__tuple__" in value:
        return tuple(_decode(v, torch) for v in value["__tuple__"])
    if "__list__" in value:
        return [_decode(v, torch) for v in value["__list__"]]
    if "__ordered__" in value:
        return OrderedDict((n, _decode(v, torch)) for n, v in value["__ordered__"])
    if "__dtype__" in value:
        dtype = getattr(torch, str(value["__dtype__"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ModelError(f"unknown torch dtype {value['__dtype__']!r} in the model spec")
        return dtype
    if "__dict__" in value:
        return {k: _decode(v, torch) for k, v in value["__dict__"].items()}
    if "class" in value:
        return _build(value, torch)
    raise ModelError(f"unreadable value {value!r} in the model spec")


def _resolve(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ModelError(
            f"cannot import the model class {module_name}.{qualname} ({exc}); make its module importable "
            "(for a bundle, include its file next to the service)"
        ) from exc
    return obj


def _build(spec: dict[str, Any], torch: Any) -> Any:
    cls = _resolve(str(spec["class"]))
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ModelError(f"{spec['class']} in the model spec is not a torch.nn.Module subclass; refusing to call it")
    args = [_decode(a, torch) for a in spec.get("args", [])]
    kwargs = {k: _decode(v, torch) for k, v in (spec.get("kwargs") or {}).items()}
    try:
        return cls(*args, **kwargs)
    except Exception as exc:
        raise ModelError(f"cannot rebuild {spec['class']} from its spec: {exc}") from exc


def _device_context(torch: Any) -> type | None:
    """The torch-function mode class ``torch.device(...)`` enters, where torch has one."""
    found = getattr(getattr(torch.utils, "_device", None), "DeviceContext", None)
    return found if isinstance(found, type) and issubclass(found, torch.overrides.TorchFunctionMode) else None


def _meta_no_init_mode(torch: Any, device_context: type | None) -> Any:
    """A context that builds on the ``meta`` device and skips value initialisation there.

    ``torch.nn.init`` functions and in-place random fills return their (meta) tensor
    unchanged: a meta tensor has no values, so the result is the same, but building
    ``nn.Linear(784, 512)`` on meta no longer runs the Python decomposition of
    ``kaiming_uniform_``. Everything else passes through. Torch-function modes are per
    thread. Where torch has it, the mode is a subclass of the one ``torch.device("meta")``
    enters (one mode instead of two, so every tensor call in a constructor costs one hop).
    """
    init = torch.nn.init
    skipped = {getattr(init, n) for n in dir(init) if n.endswith("_") and not n.startswith("_")
               and callable(getattr(init, n))}
    skipped |= {getattr(torch.Tensor, n) for n in _VALUE_FILLS if hasattr(torch.Tensor, n)}
    tensor_type = torch.Tensor

    def skip(func: Any, args: Any, kwargs: Any) -> bool:
        if func not in skipped:
            return False
        target = args[0] if args else (kwargs or {}).get("tensor")
        return isinstance(target, tensor_type) and bool(target.is_meta)

    if device_context is not None:

        class _MetaNoInit(device_context):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                super().__init__("meta")

            def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                if skip(func, args, kwargs):
                    return args[0] if args else kwargs["tensor"]
                return super().__torch_function__(func, types, args, kwargs)

        return _MetaNoInit

    class _SkipMetaInit(torch.overrides.TorchFunctionMode):  # type: ignore[misc]
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            if skip(func, args, kwargs):
                return args[0] if args else kwargs["tensor"]
            return func(*args, **(kwargs or {}))

    @contextlib.contextmanager
    def meta_no_init() -> Iterator[None]:
        with torch.device("meta"), _SkipMetaInit():
            yield

    return meta_no_init


@functools.cache
def _meta_no_init() -> Any:
    torch = require("torch", extra="torch", purpose="rebuilding a PyTorch model")
    return _meta_no_init_mode(torch, _device_context(torch))


def _build_on_meta(spec: dict[str, Any], torch: Any) -> Any:
    """``_build`` on the meta device, without running weight initialisation."""
    with _meta_no_init()():
        return _build(spec, torch)


def _check_rebuild(spec: dict[str, Any], module: Any, state: dict[str, Any], torch: Any) -> None:
    """Refuse a spec unless the module it rebuilds has the same parameter shapes and ``repr``.

    The rebuilt module's shapes and ``repr`` are kept per spec and the classes of the
    module tree (the ones the spec names, as resolved by ``_describe``), so saving the same
    architecture again only compares them with ``module``.
    """
    key = (json.dumps(spec, sort_keys=True), tuple(type(m) for m in module.modules()))
    with _rebuilt_lock:
        known = _REBUILT.get(key)
    if known is None:
        try:
            rebuilt = _build_on_meta(spec, torch)
        except ModelError as exc:
            raise _NotDescribable(str(exc)) from None
        known = ({k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}, repr(rebuilt))
        with _rebuilt_lock:
            if len(_REBUILT) >= _REBUILT_MAX:
                _REBUILT.pop(next(iter(_REBUILT)))
            _REBUILT[key] = known
    shapes, printed = known
    if {k: tuple(v.shape) for k, v in state.items()} != shapes:
        raise _NotDescribable("the module rebuilt from its spec has different parameters")
    if printed != repr(module):
        raise _NotDescribable("the module rebuilt from its spec prints differently")


def _save_skeleton(module: Any, path: Path, torch: Any) -> None:
    """Pickle the module with its state-dict tensors replaced by empty ``meta`` tensors."""
    import cloudpickle

    memo: dict[int, Any] = {}
    for tensor in list(module.parameters()) + list(module.state_dict(keep_vars=True).values()):
        if id(tensor) in memo:
            continue
        empty = torch.empty_like(tensor, device="meta")
        memo[id(tensor)] = torch.nn.Parameter(empty, tensor.requires_grad) if isinstance(
            tensor, torch.nn.Parameter) else empty
    skeleton = copy.deepcopy(module, memo)
    with open(path, "wb") as fh:
        cloudpickle.dump(skeleton, fh)


def _has_meta(module: Any) -> bool:
    return any(t.is_meta for t in [*module.parameters(), *module.buffers()])


__all__ = ["TorchHandler"]
