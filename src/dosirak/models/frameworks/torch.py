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

Loading builds the module on the ``meta`` device (no random initialisation), assigns the
weights, and returns it in eval mode.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import logging
from pathlib import Path
from typing import Any

from dosirak._extras import require
from dosirak.errors import ModelError
from dosirak.models.frameworks.base import FrameworkHandler, refuse_pickle

log = logging.getLogger(__name__)

WEIGHTS = "weights.safetensors"
SKELETON = "architecture.pkl"
_MISSING = object()


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
        st.save_file({k: v.detach().cpu().contiguous() for k, v in unique.items()}, str(directory / WEIGHTS),
                     metadata={"format": "pt"})
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
        state = st.load_file(str(directory / info.get("weights", WEIGHTS)))
        for duplicate, kept in (info.get("shared") or {}).items():
            state[duplicate] = state[kept]
        if arch.get("kind") == "spec":
            with torch.device("meta"):
                module = _build(arch["spec"], torch)
        elif arch.get("kind") == "pickle":
            if not allow_pickle:
                raise refuse_pickle("this PyTorch model's architecture")
            import pickle

            with open(directory / arch["file"], "rb") as fh:
                module = pickle.load(fh)  # noqa: S301 - only reached for trusted sources
        else:
            raise ModelError(f"unknown PyTorch architecture format {arch.get('kind')!r}; upgrade dosirak")
        try:
            module.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            raise ModelError(f"the saved weights do not fit the rebuilt module: {exc}") from exc
        if _has_meta(module) and arch.get("kind") == "spec":
            # non-persistent buffers are not in the weights: build for real so __init__ sets them
            module = _build(arch["spec"], torch)
            module.load_state_dict(state, strict=True)
        if _has_meta(module):
            raise ModelError("the rebuilt module still has tensors without values (non-persistent buffers?)")
        return module.eval()


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
        params = list(inspect.signature(type(module).__init__).parameters.values())[1:]
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
        from collections import OrderedDict

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


def _check_rebuild(spec: dict[str, Any], module: Any, state: dict[str, Any], torch: Any) -> None:
    try:
        with torch.device("meta"):
            rebuilt = _build(spec, torch)
    except ModelError as exc:
        raise _NotDescribable(str(exc)) from None
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    if {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} != shapes:
        raise _NotDescribable("the module rebuilt from its spec has different parameters")
    if repr(rebuilt) != repr(module):
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
