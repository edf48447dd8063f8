"""Making tensors: from data (tensor, as_tensor, from_numpy), filled (zeros, ones, full, eye, ranges) and random."""
import builtins
import math
from contextlib import nullcontext as _nullcontext

import numpy as _np

from ._dtype import to_dtype, get_default_dtype, from_np, int64, bool_, float32
from ._tensor import Tensor, Size, _wrap
from .backends import get_device, cpu
from .backends.random import generator_for


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
        if data.dtype.kind not in 'biuf':
            raise TypeError(f"can't convert np.ndarray of type {data.dtype}. The only supported types are: "
                            f"float64, float32, float16, int64, int32, int16, int8, uint8, and bool.")
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
    if arr.dtype.kind == 'b':
        return arr
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
    default = bool_ if isinstance(fill_value, bool) else int64 if isinstance(fill_value, int) else None
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
    dt = to_dtype(dtype) or (int64 if all(isinstance(v, int) for v in vals) else get_default_dtype())
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
    dt = to_dtype(dtype) or get_default_dtype()
    start, end, steps = (v.item() if isinstance(v, Tensor) else v for v in (start, end, steps))
    steps = int(steps)
    if steps < 0:
        raise RuntimeError(f'linspace: number of steps must be non-negative, got {steps}')
    # PyTorch's numbers: the step is computed in the result's float type (double for integer results, whose ends
    # are cast to integers first); the first half steps forward from start, the second back from end, with a fused
    # multiply-add (emulated here in wider precision), so both ends are exact
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


# ---- random ---------------------------------------------------------------------------------------------------

def _float_dt(dtype):
    dt = to_dtype(dtype) or get_default_dtype()
    if not dt.is_floating_point:
        raise NotImplementedError(f'"check_uniform_bounds" not implemented for \'{dt.name}\' (random floats need a '
                           f'floating dtype)')
    return dt


def _gen_dtype(dt):
    # NumPy's generators produce float32/float64 directly; float16 is drawn as float32
    return dt.np if dt.np in (_np.float32, _np.float64) else _np.float32


def rand(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False, layout=None,
         pin_memory=False):
    dev, dt = get_device(device), _float_dt(dtype)
    # cpu draws float16 itself (a float32 uniform that rounds up to 1 becomes 0, as in PyTorch)
    data = generator_for(dev, generator).random(_sizes(size), dtype=dt.np if dev is cpu else _gen_dtype(dt))
    return _finish(data.astype(dt.np, copy=False), dev, requires_grad)


def randn(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False, layout=None,
          pin_memory=False):
    dev, dt = get_device(device), _float_dt(dtype)
    data = generator_for(dev, generator).standard_normal(_sizes(size), dtype=dt.np if dev is cpu else _gen_dtype(dt))
    return _finish(data.astype(dt.np, copy=False), dev, requires_grad)


def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None, device=None, requires_grad=False,
            layout=None):
    if size is None:
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError('randint() missing required argument: size')
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f'random_ expects \'from\' to be less than \'to\', but got from={low} >= to={high}')
    dev = get_device(device)
    dt = to_dtype(dtype) or int64
    data = generator_for(dev, generator).integers(low, high, size=_sizes((size,)), dtype=_np.int64)
    return _finish(data.astype(dt.np, copy=False), dev, requires_grad)


def randperm(n, *, generator=None, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    dev = get_device(device)
    dt = to_dtype(dtype) or int64
    return _finish(generator_for(dev, generator).permutation(int(n)).astype(dt.np), dev, requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad=False, memory_format=None):
    return rand(input.shape, dtype=dtype or input.dtype, device=device or input._device, requires_grad=requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False, memory_format=None):
    return randn(input.shape, dtype=dtype or input.dtype, device=device or input._device, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, dtype=None, device=None, requires_grad=False, memory_format=None):
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype, device=device or input._device)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, device=None,
           requires_grad=False):
    """Samples from N(mean, std**2); mean and std may be tensors (broadcast) or floats with ``size``.

    With a tensor argument, as PyTorch: standard normals of the broadcast shape, then ``z * std + mean`` in the
    tensor's dtype."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        if isinstance(std, Tensor) and ref._device.type == 'cpu' and (s < 0).any():
            raise RuntimeError('normal expects all elements of std >= 0.0')
        shape = ref._device.xp.broadcast_shapes(_np.shape(m), _np.shape(s))
        dt = ref._data.dtype
        gdt = dt if ref._device.type == 'cpu' else _gen_dtype(ref.dtype)
        z = generator_for(ref._device, generator).standard_normal(shape, dtype=gdt).astype(dt)
        z = z * (s.astype(dt, copy=False) if isinstance(std, Tensor) else dt.type(s))
        z = z + (m.astype(dt, copy=False) if isinstance(mean, Tensor) else dt.type(m))
        from .ops._util import sample_record
        name = 'NormalBackward' + str(1 + isinstance(std, Tensor) + isinstance(mean, Tensor) * isinstance(std, Tensor))
        return sample_record(z.astype(dt, copy=False), ref._device, [t for t in (mean, std) if isinstance(t, Tensor)],
                             name)
    if size is None:
        raise TypeError('normal(): with float mean and std, size is required')
    if std < 0:
        raise RuntimeError(f'normal expects std >= 0.0, but found std {std}')
    dev, dt = get_device(device), _float_dt(dtype)
    gdt = dt.np if dev is cpu else _gen_dtype(dt)
    data = generator_for(dev, generator).normal(mean, std, _sizes((size,)), dtype=gdt)
    return _finish(data.astype(dt.np, copy=False), dev, requires_grad)


def _uniforms_like(gen, data):
    """Uniforms in [0, 1) shaped like ``data``, drawn as ``uniform_`` on a tensor of its dtype."""
    return gen.random(data.shape, dtype=_np.float64 if data.dtype == _np.float64 else _np.float32)


def bernoulli(input, p=None, *, generator=None):
    gen = generator_for(input._device, generator)
    if p is not None and not isinstance(p, Tensor):  # a float p: one float64 uniform per element, as bernoulli_(p)
        if input._device.type == 'cpu':
            keep = gen.bernoulli(float(p), input.shape)
        else:
            keep = gen.random(input.shape) < float(p)
        return _wrap(keep.astype(input._data.dtype), input._device)
    probs = input._data if p is None else p._data
    u = _uniforms_like(gen, input._data)
    out = (u < probs).astype(input._data.dtype)
    from .ops._util import sample_record
    return sample_record(out, input._device, [input], 'BernoulliBackward0') if p is None else _wrap(out, input._device)


def random_fill(t, gen, name, args, kwargs):
    """The values ``t.<name>_(*args)`` writes (uniform_, normal_, bernoulli_, random_, exponential_, log_normal_,
    geometric_, cauchy_), drawn from ``gen`` in ``t``'s dtype, the way PyTorch draws them: on cpu a
    non-contiguous tensor is filled in the order of its strides (memory order), and normal_ then takes the
    per-element path."""
    a = t._data
    tensor_p = name == 'bernoulli_' and any(isinstance(v, Tensor) for v in (*args, *kwargs.values()))
    if t._device.type != 'cpu' or a.flags.c_contiguous or a.ndim < 2 or tensor_p:
        return _random_values(t, gen, name, args, kwargs, tuple(t.shape))
    order = sorted(range(a.ndim), key=lambda i: (-abs(a.strides[i]), i))
    if name == 'normal_':
        bound = _signature(name, args, kwargs)
        mean, std = float(bound.get('mean', 0.0)), float(bound.get('std', 1.0))
        from .backends.mt19937 import _fma64
        z = _fma64(gen.stream.scalar_normals(a.size), std, mean).astype(a.dtype)
        vals = z.reshape(tuple(a.shape[i] for i in order))
    else:
        vals = _random_values(t, gen, name, args, kwargs, tuple(a.shape[i] for i in order))
    return vals.transpose(tuple(sorted(range(a.ndim), key=order.__getitem__)))


def _random_values(t, gen, name, args, kwargs, shape):
    from ._dtype import to_dtype as _td
    dt = t._data.dtype
    fdt = _np.float64 if dt == _np.float64 else _np.float32
    bound = _signature(name, args, kwargs)
    if name == 'uniform_':
        a, b = float(bound.get('from_', 0.0)), float(bound.get('to', 1.0))
        return gen.uniform(a, b, shape, dtype=dt if t._device.type == 'cpu' else fdt)
    if name == 'normal_':
        mean, std = float(bound.get('mean', 0.0)), float(bound.get('std', 1.0))
        if std < 0:
            raise RuntimeError(f'normal expects std >= 0.0, but found std {std}')
        return gen.normal(mean, std, shape, dtype=dt if t._device.type == 'cpu' else fdt)
    if name == 'bernoulli_':
        p = bound.get('p', 0.5)
        if isinstance(p, Tensor):
            return _uniforms_like(gen, t._data) < p._data
        if not 0 <= p <= 1:
            raise RuntimeError(f'bernoulli_ expects p to be in [0, 1], but got p={p}')
        return gen.bernoulli(float(p), shape) if t._device.type == 'cpu' else gen.random(shape) < p
    if name == 'exponential_':
        lambd = float(bound.get('lambd', 1.0))
        if not lambd > 0:
            raise RuntimeError(f'exponential_ expects lambda > 0.0, but found lambda={lambd}')
        return gen.exponential(1.0 / lambd, shape, dtype=fdt)
    if name == 'log_normal_':
        mean, std = float(bound.get('mean', 1.0)), float(bound.get('std', 2.0))
        if not std > 0:
            raise RuntimeError(f'log_normal_ expects std > 0.0, but found std={std}')
        return gen.lognormal(mean, std, shape, dtype=fdt)
    if name == 'geometric_':
        p = float(bound['p'])
        if not 0 < p < 1:
            raise RuntimeError(f'geometric_ expects p to be in (0, 1), but got p={p}')
        return gen.geometric(p, shape, dtype=fdt)
    if name == 'cauchy_':
        if t._device.type != 'cpu':
            return bound.get('median', 0.0) + bound.get('sigma', 1.0) * gen.standard_cauchy(shape, dtype=fdt)
        return gen.cauchy(float(bound.get('median', 0.0)), float(bound.get('sigma', 1.0)), shape, dtype=fdt)
    if name == 'random_':
        low, high = bound.get('from_'), bound.get('to')
        if low is None and high is None:  # the dtype's whole range of exactly representable integers
            span = _random_span(_td(from_np(dt)))
            if t._device.type == 'cpu':  # one 32-bit output per element, 64-bit for 64-bit dtypes
                n = math.prod(shape)
                r = gen.stream.u64(n) if dt.itemsize == 8 else gen.stream.u32(n).astype(_np.uint64)
                return (r % _np.uint64(span)).astype(_np.int64).reshape(shape)
            return gen.integers(0, span, size=shape)
        if high is None:
            if 'to' in bound:  # random_(from, None): up to the dtype's largest value
                return gen.integers(low, _random_span(_td(from_np(dt))), size=shape)
            low, high = 0, low
        return gen.integers(low, high, size=shape)
    raise AssertionError(name)


_SIGS = {'uniform_': ('from_', 'to'), 'normal_': ('mean', 'std'), 'bernoulli_': ('p',), 'exponential_': ('lambd',),
         'log_normal_': ('mean', 'std'), 'geometric_': ('p',), 'cauchy_': ('median', 'sigma'),
         'random_': ('from_', 'to')}


def _signature(name, args, kwargs):
    names = _SIGS[name]
    if len(args) > len(names):
        raise TypeError(f'{name}() takes at most {len(names)} arguments ({len(args)} given)')
    bound = dict(zip(names, args))
    for k, v in kwargs.items():
        k = {'from': 'from_', 'a': 'from_', 'b': 'to', 'lambd': 'lambd'}.get(k, k)
        if k not in names:
            raise TypeError(f"{name}() got an unexpected keyword argument '{k}'")
        bound[k] = v
    return bound


def _random_span(dt):
    """random_() with no bounds draws from [0, span): 2**mantissa bits + 1 for floats, max + 1 for integers."""
    spans = {'float32': 2 ** 24 + 1, 'float64': 2 ** 53 + 1, 'float16': 2 ** 11 + 1, 'bfloat16': 2 ** 8 + 1,
             'bool': 2}
    if dt.name in spans:
        return spans[dt.name]
    return int(_np.iinfo(dt.np).max) + 1


def multinomial(input, num_samples, replacement=False, *, generator=None):
    xp = input._device.xp
    gen = generator_for(input._device, generator)
    probs = input._data
    if probs.ndim not in (1, 2):
        raise RuntimeError(f'prob_dist must be 1 or 2 dim, got {probs.ndim}')
    if input._device.type == 'cpu' and ((probs < 0).any() or not xp.isfinite(probs).all()):
        raise RuntimeError('probability tensor contains either `inf`, `nan` or element < 0')
    p2 = probs.reshape(-1, probs.shape[-1])
    if not replacement and num_samples > p2.shape[1]:
        raise RuntimeError('cannot sample n_sample > prob_dist.size(-1) samples without replacement')
    if input._device.type != 'cpu':
        out = _multinomial_rows(xp, gen, p2.astype(_np.float64), num_samples, replacement)
        return _wrap(out.reshape(probs.shape[:-1] + (num_samples,)), input._device)
    if (p2.sum(axis=1) <= 0).any():
        raise RuntimeError('invalid multinomial distribution (sum of probabilities <= 0)')
    R, C = p2.shape
    if replacement and num_samples > 1:  # (a single sample is drawn as without replacement, as PyTorch does)
        # PyTorch: a float64 uniform per sample (row by row), located in the row's normalised cumulative
        # distribution (computed in the input's dtype): the first category whose cdf reaches the draw
        cdf = xp.cumsum(p2, axis=1, dtype=p2.dtype)
        cdf = cdf / cdf[:, -1:]
        u = gen.random((R, num_samples), dtype=_np.float64)
        out = xp.stack([xp.searchsorted(cdf[i], u[i], side='left') for i in range(R)]) if R else \
            xp.zeros((0, num_samples), _np.int64)
        out = xp.minimum(out, C - 1)
    else:
        # PyTorch: exponential keys (float64 draws in the input's dtype) per category, the largest p / key win
        q = gen.exponential(1.0, (R, C), dtype=_np.float64 if p2.dtype == _np.float64 else _np.float32)
        keys = p2 / q.astype(p2.dtype)
        out = xp.argsort(-keys, axis=1, kind='stable')[:, :num_samples]
    return _wrap(out.astype(_np.int64).reshape(probs.shape[:-1] + (num_samples,)), input._device)


def _multinomial_rows(xp, gen, p2, num_samples, replacement):
    """multinomial over all rows of ``p2`` at once (the cuda path): the value checks cost one host read in all,
    and the draws one uniform matrix. With replacement, each draw is located in its row's cumulative
    distribution by a vectorised binary search (exact; ~log2(C) passes of a few elementwise ops); without,
    Gumbel-top-k over whole rows."""
    R, C = p2.shape
    s = p2.sum(axis=1)
    flags = xp.stack([(p2 < 0).any() | ~xp.isfinite(p2).all(), (s <= 0).any()])
    bad_values, bad_sum = (bool(f) for f in flags.tolist())  # the one host read
    if bad_values:
        raise RuntimeError('probability tensor contains either `inf`, `nan` or element < 0')
    if bad_sum:
        raise RuntimeError('invalid multinomial distribution (sum of probabilities <= 0)')
    if R == 0 or num_samples == 0:
        return xp.zeros((R, num_samples), dtype=_np.int64)
    if replacement:
        cdf = xp.cumsum(p2 / s[:, None], axis=1)
        u = gen.random((R, num_samples))
        # first column whose cdf exceeds u (searchsorted side='right'), found in all rows together
        lo = xp.zeros((R, num_samples), dtype=_np.int64)
        hi = xp.full((R, num_samples), C, dtype=_np.int64)
        base = (xp.arange(R, dtype=_np.int64) * C)[:, None]
        flat = cdf.reshape(-1)
        for _ in range(int(C).bit_length()):  # each pass at least halves every interval [lo, hi) of length <= C
            active = lo < hi
            mid = (lo + hi) // 2
            right = active & (flat[base + xp.minimum(mid, C - 1)] <= u)
            lo = xp.where(right, mid + 1, lo)
            hi = xp.where(active & ~right, mid, hi)
        out = lo
    else:
        keys = xp.log(gen.random((R, C))) / xp.where(p2 > 0, p2, 1e-300)
        out = xp.argsort(-keys, axis=1)[:, :num_samples]
    return xp.minimum(out.astype(_np.int64), C - 1)


def poisson(input, generator=None):
    gen = generator_for(input._device, generator)
    return _wrap(gen.poisson(input._data).astype(input._data.dtype), input._device)


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
    names = {'FloatTensor': D.float32, 'DoubleTensor': D.float64, 'HalfTensor': D.float16, 'LongTensor': D.int64,
             'IntTensor': D.int32, 'ShortTensor': D.int16, 'CharTensor': D.int8, 'ByteTensor': D.uint8,
             'BoolTensor': D.bool_}
    return {n: _legacy(n, dt) for n, dt in names.items()}


globals().update(_legacy_types())
