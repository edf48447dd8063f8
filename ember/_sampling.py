"""Random tensors, drawn as PyTorch draws them: rand, randn, randint, randperm, normal, bernoulli, multinomial,
poisson, and the in-place fills (normal_, uniform_, ...) through random_fill."""
import math

import numpy as _np

from ._dtype import to_dtype, get_default_dtype, from_np, int64, real_only
from ._tensor_core import TensorCore as Tensor, _wrap  # (isinstance only: every ember.Tensor is one)
from .backends import get_device, cpu
from .backends.random import generator_for, complex_pairs as _pairs
from ._creation import _finish, _sizes


def _float_dt(dtype):
    dt = to_dtype(dtype) or get_default_dtype()
    if not (dt.is_floating_point or dt.is_complex):
        raise NotImplementedError(f'"check_uniform_bounds" not implemented for \'{dt.name}\' (random floats need a '
                           f'floating dtype)')
    return dt


def _gen_dtype(dt):
    # NumPy's generators produce float32/float64 directly; float16 is drawn as float32
    return dt.np if dt.np in (_np.float32, _np.float64) else _np.float32


def rand(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False, layout=None,
         pin_memory=False):
    dev, dt = get_device(device), _float_dt(dtype)
    rt, shape = dt.to_real(), _sizes(size) + (2,) * dt.is_complex  # complex: (real, imag) pairs, viewed
    # cpu draws float16 itself (a float32 uniform that rounds up to 1 becomes 0, as in PyTorch)
    data = generator_for(dev, generator).random(shape, dtype=rt.np if dev is cpu else _gen_dtype(rt))
    return _finish(_pairs(data.astype(rt.np, copy=False), dt, 1), dev, requires_grad)


def randn(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False, layout=None,
          pin_memory=False):
    dev, dt = get_device(device), _float_dt(dtype)
    rt, shape = dt.to_real(), _sizes(size) + (2,) * dt.is_complex  # complex: pairs of normals over sqrt(2)
    data = generator_for(dev, generator).standard_normal(shape, dtype=rt.np if dev is cpu else _gen_dtype(rt))
    return _finish(_pairs(data.astype(rt.np, copy=False), dt, 2 ** 0.5), dev, requires_grad)


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
    dt = real_only(to_dtype(dtype), RuntimeError, 'check_random_bounds handles only integral, floating-point and '
                   'boolean types') or int64
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
