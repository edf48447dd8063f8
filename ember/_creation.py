"""Making tensors: from data (tensor, as_tensor, from_numpy) and filled (zeros, ones, full, eye, ranges); random ones
in ember/_sampling.py."""
import builtins
import math
from contextlib import nullcontext as _nullcontext

import numpy as _np

from ._dtype import to_dtype, get_default_dtype, from_np, int64, bool_, real_only, SCALAR_NAMES
from ._tensor_core import TensorCore as Tensor, _wrap  # (isinstance only: every ember.Tensor is one)
from .backends import get_device, cpu


def _finish(data, device, requires_grad):
    t = _wrap(data, device)
    if requires_grad:
        t.requires_grad = True
    return t


def _sizes(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    try:
        shape = tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f'size must be a sequence of ints, got {size!r}') from None
    if any(s < 0 for s in shape):
        raise RuntimeError(f'Trying to create tensor with negative dimension: size {list(shape)}')
    return shape


def _place(arr, device):
    """Move a host array onto the device's array module."""
    if device is cpu:
        return arr
    with device.xp.cuda.Device(device.index):
        return device.xp.asarray(arr)


def _on(device):
    """The context that makes ``device`` CuPy's current device while its arrays are made (cpu: nothing)."""
    if device is cpu:
        return _nullcontext()
    return device.xp.cuda.Device(device.index)


def _infer_array(data, exact=False):
    """A host array for Python data, with PyTorch's inference: bool, int64, or the default float.

    ``exact``: the caller casts to a dtype of its own, so Python floats stay float64 (no rounding through the
    default dtype on the way)."""
    if isinstance(data, Tensor):
        return data._data if data._device is cpu else data._data.get()
    if isinstance(data, _np.ndarray):
        if data.dtype.kind not in 'biufc':
            raise TypeError(f"can't convert np.ndarray of type {data.dtype}. The only supported types are: float64, "
                            f"float32, float16, complex64, complex128, int64, int32, int16, int8, uint8, and bool.")
        return data
    if hasattr(data, '__cuda_array_interface__'):
        return data.get()
    if isinstance(data, _np.generic):  # a NumPy scalar keeps its dtype, as PyTorch keeps it
        return _infer_array(_np.asarray(data))
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat_first(data)):
        data = _untensor(data)
    try:
        arr = _np.asarray(data)
    except ValueError as e:
        raise ValueError(f'expected a rectangular sequence of numbers to build a tensor: {e}') from None
    if arr.dtype.kind == 'f' and arr.dtype != _np.float64:
        return arr
    if arr.dtype.kind == 'f':
        return arr if exact else arr.astype(_float_of_sequence(data))
    if arr.dtype.kind in 'iu':  # Python ints make int64; NumPy int8/16/32/uint8 scalars keep their dtype
        return arr if arr.dtype in (_np.int8, _np.int16, _np.int32, _np.uint8) else arr.astype(_np.int64)
    if arr.dtype.kind in 'bc':  # (Python complex numbers: the default complex dtype, cdouble under float64)
        return arr if arr.dtype.kind == 'b' or exact or arr.dtype != _np.complex128 else arr.astype(
            get_default_dtype().to_complex().np)
    if arr.dtype.kind == 'O':
        raise TypeError(f'Could not infer dtype of {type(_flat_first(data)[0]).__name__}')
    raise TypeError(f"can't build a tensor from data of type {arr.dtype}")


def _float_of_sequence(data):
    """The float dtype PyTorch infers for a nested sequence that NumPy made float64: Python floats count as the
    default dtype, NumPy float scalars/arrays as their own dtype, promoted together."""
    dt, stack = None, [data]
    default = get_default_dtype().np
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, (_np.generic, _np.ndarray)):
            if x.dtype.kind == 'f':
                dt = x.dtype if dt is None else _np.promote_types(dt, x.dtype)
        elif isinstance(x, float):
            dt = default if dt is None else _np.promote_types(dt, default)
            if dt == _np.float64:
                break
    return dt if dt is not None else default


def _flat_first(data):
    out = []
    while isinstance(data, (list, tuple)) and data:
        out.append(data[0])
        data = data[0]
    return out or [data]


def _untensor(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_untensor(x) for x in data]
    return data


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data``; dtype inferred as PyTorch does unless given."""
    dev = get_device(device) if device is not None or not isinstance(data, Tensor) else data._device
    dt = to_dtype(dtype)
    arr = _infer_array(data, exact=dt is not None)
    arr = _np.array(arr, dtype=dt.np if dt is not None else None, copy=True)
    return _finish(_place(arr, dev), dev, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like tensor, but shares memory with a NumPy array or tensor when dtype and device already match."""
    dt = to_dtype(dtype)
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dt)
    dev = get_device(device)
    if isinstance(data, _np.ndarray) and dev is cpu and (dt is None or dt.np == data.dtype):
        return from_numpy(data)
    arr = _infer_array(data, exact=dt is not None)
    if dt is not None and arr.dtype != dt.np:
        arr = arr.astype(dt.np)
    return _wrap(_place(arr, dev), dev)


asarray = as_tensor


def from_numpy(arr):
    """A tensor sharing ``arr``'s memory (writes through either are seen by both)."""
    if not isinstance(arr, _np.ndarray):
        raise TypeError(f'expected np.ndarray (got {type(arr).__name__})')
    from_np(arr.dtype)
    return _wrap(arr, cpu)


def _filled(fill, size, dtype, device, requires_grad, default=None):
    dev = get_device(device)
    dt = to_dtype(dtype) or default or get_default_dtype()
    xp = dev.xp
    shape = _sizes(size)
    with _on(dev):
        if fill is None:
            data = xp.empty(shape, dtype=dt.np)
        elif fill == 0:
            data = xp.zeros(shape, dtype=dt.np)
        elif fill == 1:
            data = xp.ones(shape, dtype=dt.np)
        else:
            if type(fill) is builtins.int:  # (checked as fill_ checks it: Scalar conversion, then the dtype's range)
                from .ops._util import fit_scalar
                fill = fit_scalar(fill, dt.np)
            data = xp.full(shape, fill, dtype=dt.np)
    return _finish(data, dev, requires_grad)


def zeros(*size, out=None, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    return _filled(0, size, dtype, device, requires_grad)


def ones(*size, out=None, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    return _filled(1, size, dtype, device, requires_grad)


def empty(*size, out=None, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False,
          memory_format=None):
    return _filled(None, size, dtype, device, requires_grad)


def full(size, fill_value, *, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    default = bool_ if isinstance(fill_value, bool) else int64 if isinstance(fill_value, int) else \
        get_default_dtype().to_complex() if isinstance(fill_value, complex) else None
    return _filled(fill_value, (size,) if isinstance(size, int) else size, dtype, device, requires_grad, default)


def _like(fill, t, dtype, device, requires_grad):
    return _filled(fill, t.shape, dtype or t.dtype, device or t._device, requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None):
    return _like(0, input, dtype, device, requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None):
    return _like(1, input, dtype, device, requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None):
    return _like(None, input, dtype, device, requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None):
    return _like(fill_value, input, dtype, device, requires_grad)


def arange(start, end=None, step=1, *, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    dt = real_only(to_dtype(dtype), NotImplementedError, '"arange_cpu" not implemented for \'{}\'') or (
        int64 if all(isinstance(v, int) for v in vals) else get_default_dtype())
    if not dt.is_floating_point:  # PyTorch truncates the bounds and step to the integer type first
        start, end, step = int(start), int(end), int(step)
    if step == 0:
        raise RuntimeError('step must be nonzero')
    if (end - start) / step < 0:
        raise RuntimeError(f'upper bound and lower bound inconsistent with step sign (start={start}, end={end}, '
                           f'step={step})')
    dev = get_device(device)
    with _on(dev):
        if not dt.is_floating_point:
            return _finish(dev.xp.arange(start, end, step, dtype=_np.int64).astype(dt.np), dev, requires_grad)
        n = int(math.ceil((end - start) / step))
        data = dev.xp.arange(n, dtype=_np.float64) * step + start
        return _finish(data.astype(dt.np), dev, requires_grad)


def range_(start, end, step=1, *, dtype=None, device=None, requires_grad=False):
    """ember.range: like arange but includes ``end`` (deprecated in PyTorch, kept for old scripts)."""
    return arange(start, end + step / 2 if step > 0 else end - abs(step) / 2, step, dtype=dtype or get_default_dtype(),
                  device=device, requires_grad=requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    dev = get_device(device)
    start, end, steps = (v.item() if isinstance(v, Tensor) else v for v in (start, end, steps))
    inferred = get_default_dtype().to_complex() if isinstance(start, complex) or isinstance(end, complex) else None
    dt = to_dtype(dtype) or inferred or get_default_dtype()
    if inferred is not None and not dt.is_complex:
        names = {'complex64': 'c10::complex<float>', 'complex128': 'c10::complex<double>'}
        raise RuntimeError(f"torch.linspace(): inferred dtype {names[inferred.name]} can't be safely cast to passed "
                           f"dtype {SCALAR_NAMES.get(dt.name, dt.name)}")
    steps = int(steps)
    if steps < 0:
        raise RuntimeError(f'linspace: number of steps must be non-negative, got {steps}')
    # PyTorch's numbers: the step is computed in the result's float type (double for integer results, whose ends
    # are cast to integers first); the first half steps forward from start, the second back from end, with a fused
    # multiply-add (emulated here in wider precision), so both ends are exact
    if dt.is_complex:  # PyTorch's complex linspace is the real one of the real parts and of the imaginary parts
        start, end = complex(start), complex(end)
        re, im = (linspace(a, b, steps, dtype=dt.to_real())._data for a, b in ((start.real, end.real),
                                                                             (start.imag, end.imag)))
        return _finish(_place((re + 1j * im).astype(dt.np), dev), dev, requires_grad)
    if dt.is_floating_point:
        calc = dt.np
        wide = {_np.float64: _np.longdouble, _np.float32: _np.float64}.get(calc.type, _np.float16)
    else:
        calc, wide = _np.dtype(_np.float64), _np.float64
        start, end = int(start), int(end)
    s0, s1 = calc.type(start), calc.type(end)
    step = (s1 - s0) / calc.type(max(steps - 1, 1))
    k = _np.arange(steps)
    lo = wide(s0) + wide(step) * k.astype(wide)
    hi = wide(s1) - wide(step) * (steps - 1 - k).astype(wide)
    data = _np.where(k < steps // 2, lo, hi).astype(calc)
    if steps == 1:
        data[0] = s0
    return _finish(_place(data.astype(dt.np), dev), dev, requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    dev = get_device(device)
    dt = to_dtype(dtype) or get_default_dtype()
    with _on(dev):
        return _finish(dev.xp.logspace(start, end, int(steps), base=base).astype(dt.np), dev, requires_grad)


def eye(n, m=None, *, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    dev = get_device(device)
    dt = to_dtype(dtype) or get_default_dtype()
    with _on(dev):
        return _finish(dev.xp.eye(n, m, dtype=dt.np), dev, requires_grad)


class _LegacyMeta(type):
    """isinstance(t, ember.FloatTensor) checks the dtype, as PyTorch's legacy tensor types do."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype is cls._dtype


def _legacy(name, dt):
    def __new__(cls, *args, device=None):
        if len(args) == 1 and not isinstance(args[0], builtins.int):
            return tensor(args[0], dtype=dt, device=device)
        return zeros(*args, dtype=dt, device=device)
    return _LegacyMeta(name, (), {'__new__': __new__, '_dtype': dt, '__doc__': f'Legacy constructor: {dt} data.'})


def _legacy_types():
    from . import _dtype as D
    names = {D._LEGACY_NAMES[dt.name]: dt for dt in (D.float32, D.float64, D.float16, D.int64, D.int32, D.int16,
                                                      D.int8, D.uint8, D.bool_)}
    return {n: _legacy(n, dt) for n, dt in names.items()}


globals().update(_legacy_types())
