"""Counter-based random-number kernels (uniform, normal, bits, integers) and their bit-identical NumPy references."""
import math

import numpy as _np

from .cuda_kernels import _acc, _cache, _cp


# ==== random numbers: counter-based (splitmix64 of key + counter), so the state is just (key, counter) ===============
# Element i of a draw at counter ``base`` reads hash(key, base + i) (normals read two), so any draw can be replayed from
# the (key, base) pair alone, and the cpu reference below gives bit-identical uniforms.

_RNG_PREAMBLE = r'''
__device__ __forceinline__ unsigned long long ember_mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
__device__ __forceinline__ unsigned long long ember_draw(unsigned long long key, unsigned long long ctr) {
    return ember_mix64(key + (ctr + 1ULL) * 0x9E3779B97F4A7C15ULL);
}
__device__ __forceinline__ double ember_u53(unsigned long long z) { return (double)(z >> 11) * 1.1102230246251565e-16; }
__device__ __forceinline__ float ember_u24(unsigned long long z) { return (float)(z >> 40) * 5.9604644775390625e-08f; }
'''

_UNIFORM = {
    'double': 'y = (T)ember_u53(ember_draw(key, base + (unsigned long long)i));',
    'float': 'y = (T)ember_u24(ember_draw(key, base + (unsigned long long)i));',
}
_NORMAL = {
    'double': '''
        unsigned long long c = base + 2ULL * (unsigned long long)i;
        double u1 = ember_u53(ember_draw(key, c)) + 1.1102230246251565e-16;
        double u2 = ember_u53(ember_draw(key, c + 1ULL));
        y = (T)(sqrt(-2.0 * log(u1)) * cospi(2.0 * u2));''',
    'float': '''
        unsigned long long c = base + 2ULL * (unsigned long long)i;
        float u1 = ember_u24(ember_draw(key, c)) + 5.9604644775390625e-08f;
        float u2 = ember_u24(ember_draw(key, c + 1ULL));
        y = (T)(sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2));''',
}


def _rng_kernel(kind, dtype):
    ac, _ = _acc(dtype)
    key = ('rng_' + kind, ac)
    k = _cache.get(key)
    if k is None:
        body = (_UNIFORM if kind == 'uniform' else _NORMAL)[ac]
        k = _cache[key] = _cp().ElementwiseKernel('uint64 key, uint64 base', 'T y', body, f'ember_rng_{kind}_{ac}',
                                                  preamble=_RNG_PREAMBLE)
    return k


def _shape(size):
    if size is None:
        return ()
    return (int(size),) if isinstance(size, (int, _np.integer)) else tuple(int(s) for s in size)


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


# NumPy references (uint64 arithmetic wraps silently on arrays)
_M1, _M2, _G = _np.uint64(0xBF58476D1CE4E5B9), _np.uint64(0x94D049BB133111EB), _np.uint64(0x9E3779B97F4A7C15)


def _np_draw(key, ctr):
    with _np.errstate(over='ignore'):
        z = _np.uint64(key) + (ctr.astype(_np.uint64) + _np.uint64(1)) * _G
        z = (z ^ (z >> _np.uint64(30))) * _M1
        z = (z ^ (z >> _np.uint64(27))) * _M2
        return z ^ (z >> _np.uint64(31))


def _np_unit(z, dtype):
    if _np.dtype(dtype) == _np.float64:
        return (z >> _np.uint64(11)).astype(_np.float64) * 1.1102230246251565e-16
    return (z >> _np.uint64(40)).astype(_np.float32) * _np.float32(5.9604644775390625e-08)


def rng_uniform(key, base, size, dtype, xp=None):
    """Uniform [0, 1) of ``dtype`` (float32/float64) at counters base..base+n-1; returns (array, counters used)."""
    shape = _shape(size)
    n = _numel(shape)
    if xp is _np:
        return _np_unit(_np_draw(key, _np.uint64(base) + _np.arange(n, dtype=_np.uint64)), dtype).reshape(shape), n
    y = _cp().empty(shape, dtype=dtype)
    if n:
        _rng_kernel('uniform', dtype)(_np.uint64(key), _np.uint64(base), y)
    return y, n


def rng_normal(key, base, size, dtype, xp=None):
    """Standard normal of ``dtype`` (Box-Muller on two uniforms per element); returns (array, counters used)."""
    shape = _shape(size)
    n = _numel(shape)
    if xp is _np:
        c = _np.uint64(base) + _np.uint64(2) * _np.arange(n, dtype=_np.uint64)
        calc = _np.float64 if _np.dtype(dtype) == _np.float64 else _np.float32
        tiny = calc(1.1102230246251565e-16 if calc is _np.float64 else 5.9604644775390625e-08)
        u1 = _np_unit(_np_draw(key, c), calc) + tiny
        u2 = _np_unit(_np_draw(key, c + _np.uint64(1)), calc)
        y = _np.sqrt(calc(-2.0) * _np.log(u1)) * _np.cos(calc(2.0 * math.pi) * u2)
        return y.astype(dtype).reshape(shape), 2 * n
    y = _cp().empty(shape, dtype=dtype)
    if n:
        _rng_kernel('normal', dtype)(_np.uint64(key), _np.uint64(base), y)
    return y, 2 * n


def rng_bits(key, base, size, xp=None):
    """Raw uint64 hashes at counters base..base+n-1; returns (array, counters used)."""
    shape = _shape(size)
    n = _numel(shape)
    if xp is _np:
        return _np_draw(key, _np.uint64(base) + _np.arange(n, dtype=_np.uint64)).reshape(shape), n
    k = _cache.get(('rng_bits', ''))
    if k is None:
        k = _cache[('rng_bits', '')] = _cp().ElementwiseKernel(
            'uint64 key, uint64 base', 'uint64 y', 'y = ember_draw(key, base + (unsigned long long)i);',
            'ember_rng_bits', preamble=_RNG_PREAMBLE)
    y = _cp().empty(shape, dtype=_np.uint64)
    if n:
        k(_np.uint64(key), _np.uint64(base), y)
    return y, n


def rng_integers(key, base, low, high, size, dtype, xp=None):
    """Integers uniform on [low, high) (the high 64 bits of hash * span: no modulo bias to speak of)."""
    span = int(high) - int(low)
    if span <= 0:
        raise ValueError(f'high <= low in integers({low}, {high})')
    shape = _shape(size)
    n = _numel(shape)
    if xp is _np:
        z, _ = rng_bits(key, base, shape, _np)
        hi = (z.astype(object) * span) >> 64  # exact 128-bit product (slow: the reference is for tests)
        return (_np.asarray(hi, dtype=_np.int64).reshape(shape) + int(low)).astype(dtype), n
    k = _cache.get(('rng_int', ''))
    if k is None:
        k = _cache[('rng_int', '')] = _cp().ElementwiseKernel(
            'uint64 key, uint64 base, int64 low, uint64 span', 'T y',
            'y = (T)(low + (long long)__umul64hi(ember_draw(key, base + (unsigned long long)i), span));',
            'ember_rng_int', preamble=_RNG_PREAMBLE)
    y = _cp().empty(shape, dtype=dtype)
    if n:
        k(_np.uint64(key), _np.uint64(base), _np.int64(low), _np.uint64(span), y)
    return y, n
