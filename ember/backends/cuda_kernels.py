"""Fused CuPy kernels for the cuda path (RNG, ReLU/GELU, softmax cross-entropy, LayerNorm, optimizer updates)."""
# Every kernel is compiled lazily, on first use, and only once CuPy is imported: importing this module needs no GPU.
# Each entry point also accepts NumPy arrays and then runs a NumPy reference of the same arithmetic, so the math and
# the calling conventions are tested on any machine; tests/test_cuda.py compares the two on a GPU.
#
# Conventions: array arguments are CuPy (or NumPy) arrays, not Tensors; float16 is computed in float32, float32 in
# float32 and float64 in float64. Nothing here synchronises with the host.
import math

import numpy as _np

__all__ = ['rng_uniform', 'rng_normal', 'rng_bits', 'rng_integers', 'relu_backward', 'gelu_forward', 'gelu_backward',
           'softmax_xent_forward', 'softmax_xent_backward', 'layer_norm_forward', 'layer_norm_backward',
           'fused_sgd_', 'fused_adam_', 'supports']

_cache = {}


def _cp():
    import cupy
    return cupy


def supports(*arrays):
    """Whether the row-wise kernels (cross entropy, LayerNorm) take these arrays: float32/float64 CuPy arrays."""
    return all(a is None or (not isinstance(a, _np.ndarray) and a.dtype.name in ('float32', 'float64'))
               for a in arrays)


def _acc(dtype):
    """(C type, NumPy type name) that a kernel on ``dtype`` computes in."""
    return ('double', 'float64') if _np.dtype(dtype) == _np.float64 else ('float', 'float32')


def _elementwise(name, in_params, out_params, body, dtype, preamble=''):
    """A cached cupy.ElementwiseKernel; ``AC``/``ACT`` in its text become the compute C type / NumPy type name."""
    ac, act = _acc(dtype)
    key = (name, ac)
    k = _cache.get(key)
    if k is None:
        sub = (lambda s: s.replace('ACT', act).replace('AC', ac))
        k = _cache[key] = _cp().ElementwiseKernel(sub(in_params), sub(out_params), sub(body),
                                                  f'ember_{name}_{ac}', preamble=sub(preamble))
    return k


def _raw(name, source, dtype):
    """A cached cupy.RawKernel from ``source`` with ``T`` (as a whole word) standing for the float C type."""
    ac, _ = _acc(dtype)
    key = (name, ac)
    k = _cache.get(key)
    if k is None:
        src = _ROW_PREAMBLE + source
        k = _cache[key] = _cp().RawKernel(_typed(src, ac), f'{name}_{ac}', options=('--std=c++14',))
    return k


def _typed(src, ctype):
    """``src`` with the type placeholder ``T`` (a whole word, or a kernel name's ``_T(`` suffix) made ``ctype``."""
    import re
    return re.sub(r'\bT\b', ctype, src.replace('_T(', f'_{ctype}('))


def _f(x, dtype):
    """A kernel scalar of exactly the compute type of ``dtype``."""
    return _np.float64(x) if _acc(dtype)[0] == 'double' else _np.float32(x)


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


# ==== activations ====================================================================================================

def relu_backward(g, y):
    """g where the ReLU output y is positive, else 0: one pass instead of a mask and a multiply."""
    if isinstance(g, _np.ndarray):
        return _np.where(y > 0, g, _np.zeros((), g.dtype)).astype(g.dtype, copy=False)
    k = _cache.get(('relu_bwd', ''))
    if k is None:
        k = _cache[('relu_bwd', '')] = _cp().ElementwiseKernel('T g, T y', 'T dx', 'dx = y > (T)0 ? g : (T)0',
                                                               'ember_relu_bwd')
    return k(g, y)


_GELU_PRE = '''
#define EMBER_SQRT1_2 0.70710678118654752440
#define EMBER_INV_SQRT_2PI 0.39894228040143267794
#define EMBER_SQRT_2_PI 0.79788456080286535588
'''
_GELU_FWD = {
    'none': 'AC v = (AC)x; y = (T)(v * (AC)0.5 * ((AC)1 + erf(v * (AC)EMBER_SQRT1_2)));',
    'tanh': 'AC v = (AC)x; AC inner = (AC)EMBER_SQRT_2_PI * (v + (AC)0.044715 * v * v * v); '
            'y = (T)((AC)0.5 * v * ((AC)1 + tanh(inner)));',
}
_GELU_BWD = {
    'none': 'AC v = (AC)x; AC cdf = (AC)0.5 * ((AC)1 + erf(v * (AC)EMBER_SQRT1_2)); '
            'AC pdf = exp((AC)-0.5 * v * v) * (AC)EMBER_INV_SQRT_2PI; dx = (T)((AC)g * (cdf + v * pdf));',
    'tanh': 'AC v = (AC)x; AC inner = (AC)EMBER_SQRT_2_PI * (v + (AC)0.044715 * v * v * v); AC th = tanh(inner); '
            'AC d = (AC)0.5 * ((AC)1 + th) + (AC)0.5 * v * ((AC)1 - th * th) * (AC)EMBER_SQRT_2_PI * '
            '((AC)1 + (AC)3 * (AC)0.044715 * v * v); dx = (T)((AC)g * d);',
}


def _np_erf(x):
    try:
        from scipy.special import erf
        return erf(x)
    except ImportError:
        return _np.vectorize(math.erf, otypes=[_np.float64])(x)


def gelu_forward(x, approximate='none'):
    """x * Phi(x) (``approximate='tanh'``: the tanh formula) in one pass."""
    if isinstance(x, _np.ndarray):
        v = x.astype(_np.float64)
        if approximate == 'none':
            y = v * 0.5 * (1.0 + _np_erf(v * math.sqrt(0.5)))
        else:
            y = 0.5 * v * (1.0 + _np.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)))
        return y.astype(x.dtype)
    return _elementwise('gelu_fwd_' + approximate, 'T x', 'T y', _GELU_FWD[approximate], x.dtype, _GELU_PRE)(x)


def gelu_backward(g, x, approximate='none'):
    """g * d gelu(x) / dx in one pass."""
    if isinstance(x, _np.ndarray):
        v = x.astype(_np.float64)
        if approximate == 'none':
            d = 0.5 * (1.0 + _np_erf(v * math.sqrt(0.5))) + v * _np.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)
        else:
            c = math.sqrt(2.0 / math.pi)
            th = _np.tanh(c * (v + 0.044715 * v ** 3))
            d = 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * c * (1 + 3 * 0.044715 * v * v)
        return (g * d).astype(x.dtype)
    return _elementwise('gelu_bwd_' + approximate, 'T g, T x', 'T dx', _GELU_BWD[approximate], x.dtype,
                        _GELU_PRE)(g, x)


# ==== row-wise kernels: one thread block per row, block sizes a power of two =========================================

_ROW_PREAMBLE = r'''
#define EMBER_INF __longlong_as_double(0x7ff0000000000000ULL)
#define EMBER_NAN __longlong_as_double(0x7ff8000000000000ULL)
__device__ __forceinline__ T ember_block_sum(T v, T* sm) {
    sm[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sm[threadIdx.x] += sm[threadIdx.x + s];
        __syncthreads();
    }
    T r = sm[0];
    __syncthreads();
    return r;
}
__device__ __forceinline__ T ember_block_max(T v, T* sm) {
    sm[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            T o = sm[threadIdx.x + s];
            if (o > sm[threadIdx.x] || o != o) sm[threadIdx.x] = o;  /* NaN wins, as in max() */
        }
        __syncthreads();
    }
    T r = sm[0];
    __syncthreads();
    return r;
}
'''


def _block(n):
    b = 32
    while b < n and b < 256:
        b *= 2
    return b


# ---- softmax + cross entropy (class indices) ------------------------------------------------------------------------
# Per row r of x (M, C), target t[r], optional class weights w (C,), label smoothing eps:
#   lse = log sum exp x[r]; valid = t[r] != ignore_index; wt = w[t[r]] (1 without w), 0 when not valid
#   loss[r] = (1 - eps) * wt * (lse - x[r, t]) + valid * eps / C * (W * lse - sum_c w_c x[r, c])   (W = sum_c w_c)
#   wv[r] = wt (the 'mean' reduction divides by sum wv)
#   dx[r, c] = scale[r] * (p_c * ((1 - eps) wt + valid eps W / C) - [c == t] (1 - eps) wt - valid eps w_c / C)
# An out-of-range target (not ignore_index) gives a NaN row, where PyTorch's cuda kernel asserts.

_XENT_FWD = r'''
extern "C" __global__ void ember_xent_fwd_T(const T* __restrict__ x, const long long* __restrict__ tgt,
        const T* __restrict__ w, const int has_w, const long long M, const int C, const long long ignore_index,
        const T eps, T* __restrict__ loss, T* __restrict__ wv, T* __restrict__ lse_out) {
    extern __shared__ unsigned char ember_smem[];
    T* sm = reinterpret_cast<T*>(ember_smem);
    const long long r = blockIdx.x;
    if (r >= M) return;
    const T* xr = x + r * (long long)C;
    T m = (T)-EMBER_INF;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        T v = xr[c];
        if (v > m || v != v) m = v;
    }
    m = ember_block_max(m, sm);
    const T shift = isinf(m) ? (T)0 : m;
    T s = 0, sx = 0, sw = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        T v = xr[c];
        s += exp(v - shift);
        if (eps > (T)0) {
            T wc = has_w ? w[c] : (T)1;
            sx += wc * v;
            sw += wc;
        }
    }
    s = ember_block_sum(s, sm);
    if (eps > (T)0) {
        sx = ember_block_sum(sx, sm);
        sw = ember_block_sum(sw, sm);
    }
    if (threadIdx.x == 0) {
        const T lse = log(s) + shift;
        const long long t = tgt[r];
        lse_out[r] = lse;
        if (t == ignore_index) {
            loss[r] = (T)0;
            wv[r] = (T)0;
        } else if (t < 0 || t >= C) {
            loss[r] = (T)EMBER_NAN;
            wv[r] = (T)EMBER_NAN;
        } else {
            const T wt = has_w ? w[t] : (T)1;
            T per = ((T)1 - eps) * wt * (lse - xr[t]);
            if (eps > (T)0) per += eps / (T)C * (sw * lse - sx);
            loss[r] = per;
            wv[r] = wt;
        }
    }
}
'''

_XENT_BWD = r'''
extern "C" __global__ void ember_xent_bwd_T(const T* __restrict__ x, const long long* __restrict__ tgt,
        const T* __restrict__ w, const int has_w, const long long M, const int C, const long long ignore_index,
        const T eps, const T* __restrict__ lse, const T* __restrict__ scale, const long long scale_stride,
        T* __restrict__ dx) {
    extern __shared__ unsigned char ember_smem[];
    T* sm = reinterpret_cast<T*>(ember_smem);
    const long long r = blockIdx.x;
    if (r >= M) return;
    const T* xr = x + r * (long long)C;
    T* dr = dx + r * (long long)C;
    const long long t = tgt[r];
    const bool valid = t != ignore_index;
    const bool inrange = t >= 0 && t < C;
    T W = (T)C;
    if (eps > (T)0 && has_w) {
        T sw = 0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) sw += w[c];
        W = ember_block_sum(sw, sm);
    }
    if (valid && !inrange) {
        for (int c = threadIdx.x; c < C; c += blockDim.x) dr[c] = (T)EMBER_NAN;
        return;
    }
    const T g = scale[r * scale_stride];
    const T wt = valid ? (has_w ? w[t] : (T)1) : (T)0;
    const T vf = valid ? (T)1 : (T)0;
    const T coef = ((T)1 - eps) * wt;
    const T rowc = coef + eps / (T)C * W * vf;
    const T l = lse[r];
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        T d = exp(xr[c] - l) * rowc;
        if (c == t) d -= coef;
        if (eps > (T)0) d -= eps / (T)C * vf * (has_w ? w[c] : (T)1);
        dr[c] = d * g;
    }
}
'''


def _np_xent_forward(x2, t, w, ignore_index, eps):
    M, C = x2.shape
    x = x2.astype(_np.float64)
    m = x.max(axis=1, keepdims=True)
    m = _np.where(_np.isfinite(m), m, 0.0)
    lse = (_np.log(_np.exp(x - m).sum(axis=1, keepdims=True)) + m)[:, 0]
    valid = t != ignore_index
    inr = (t >= 0) & (t < C)
    tt = _np.where(valid & inr, t, 0)
    wc = _np.ones(C) if w is None else w.astype(_np.float64)
    wt = _np.where(valid, wc[tt], 0.0)
    per = (1 - eps) * wt * (lse - x[_np.arange(M), tt])
    if eps > 0:
        per = per + valid * eps / C * (wc.sum() * lse - (x * wc).sum(axis=1))
    bad = valid & ~inr
    per, wt = _np.where(bad, _np.nan, per), _np.where(bad, _np.nan, wt)
    dt = x2.dtype
    return per.astype(dt), wt.astype(dt), lse.astype(dt)


def softmax_xent_forward(x2, t, w=None, ignore_index=-100, eps=0.0):
    """Rows (M, C) of logits against int64 targets (M,): (per-row loss, per-row weight, per-row logsumexp)."""
    if isinstance(x2, _np.ndarray):
        return _np_xent_forward(x2, t, w, ignore_index, eps)
    cp = _cp()
    x2 = cp.ascontiguousarray(x2)
    M, C = x2.shape
    dt = x2.dtype
    t = cp.ascontiguousarray(t, dtype=_np.int64)
    loss, wv, lse = cp.empty(M, dt), cp.empty(M, dt), cp.empty(M, dt)
    if M:
        wd = cp.ascontiguousarray(w, dtype=dt) if w is not None else cp.empty(1, dt)
        b = _block(C)
        _raw('ember_xent_fwd', _XENT_FWD, dt)((M,), (b,), (x2, t, wd, _np.int32(w is not None), _np.int64(M),
                                                         _np.int32(C), _np.int64(ignore_index), _f(eps, dt),
                                                         loss, wv, lse), shared_mem=b * dt.itemsize)
    return loss, wv, lse


def softmax_xent_backward(x2, t, lse, scale, w=None, ignore_index=-100, eps=0.0):
    """The (M, C) gradient of the per-row losses times ``scale`` (an (M,) array, or a 0-d/1-element one for all)."""
    if isinstance(x2, _np.ndarray):
        M, C = x2.shape
        x = x2.astype(_np.float64)
        valid = t != ignore_index
        inr = (t >= 0) & (t < C)
        tt = _np.where(valid & inr, t, 0)
        wc = _np.ones(C) if w is None else w.astype(_np.float64)
        wt = _np.where(valid, wc[tt], 0.0)
        coef = (1 - eps) * wt
        rowc = coef + eps / C * wc.sum() * valid
        d = _np.exp(x - lse.astype(_np.float64)[:, None]) * rowc[:, None]
        d[_np.arange(M), tt] -= coef
        if eps > 0:
            d -= eps / C * valid[:, None] * wc[None, :]
        d[valid & ~inr] = _np.nan
        sc = _np.asarray(scale, dtype=_np.float64).reshape(-1)
        return (d * (sc[:, None] if sc.size == M and M != 1 else sc.reshape(()))).astype(x2.dtype)
    cp = _cp()
    x2 = cp.ascontiguousarray(x2)
    M, C = x2.shape
    dt = x2.dtype
    dx = cp.empty((M, C), dt)
    if M:
        t = cp.ascontiguousarray(t, dtype=_np.int64)
        sc = cp.ascontiguousarray(scale, dtype=dt).reshape(-1)
        stride = 1 if sc.size == M and M != 1 else 0
        wd = cp.ascontiguousarray(w, dtype=dt) if w is not None else cp.empty(1, dt)
        b = _block(C)
        _raw('ember_xent_bwd', _XENT_BWD, dt)((M,), (b,), (x2, t, wd, _np.int32(w is not None), _np.int64(M),
                                                         _np.int32(C), _np.int64(ignore_index), _f(eps, dt),
                                                         cp.ascontiguousarray(lse), sc, _np.int64(stride), dx),
                                              shared_mem=b * dt.itemsize)
    return dx


# ---- LayerNorm over the last N elements of each row -----------------------------------------------------------------

_LN_FWD = r'''
extern "C" __global__ void ember_ln_fwd_T(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
        const int has_w, const int has_b, const long long M, const long long N, const T eps, T* __restrict__ y,
        T* __restrict__ mean_out, T* __restrict__ rstd_out) {
    extern __shared__ unsigned char ember_smem[];
    T* sm = reinterpret_cast<T*>(ember_smem);
    const long long r = blockIdx.x;
    if (r >= M) return;
    const T* xr = x + r * N;
    T* yr = y + r * N;
    T s = 0;
    for (long long c = threadIdx.x; c < N; c += blockDim.x) s += xr[c];
    const T mean = ember_block_sum(s, sm) / (T)N;
    T q = 0;
    for (long long c = threadIdx.x; c < N; c += blockDim.x) {
        T d = xr[c] - mean;
        q += d * d;
    }
    const T var = ember_block_sum(q, sm) / (T)N;
    const T rstd = (T)1 / sqrt(var + eps);
    for (long long c = threadIdx.x; c < N; c += blockDim.x) {
        T v = (xr[c] - mean) * rstd;
        if (has_w) v *= w[c];
        if (has_b) v += b[c];
        yr[c] = v;
    }
    if (threadIdx.x == 0) {
        mean_out[r] = mean;
        rstd_out[r] = rstd;
    }
}
'''

_LN_BWD = r'''
extern "C" __global__ void ember_ln_bwd_T(const T* __restrict__ x, const T* __restrict__ g, const T* __restrict__ w,
        const int has_w, const T* __restrict__ mean, const T* __restrict__ rstd, const long long M, const long long N,
        T* __restrict__ dx, T* __restrict__ gxhat, const int want_gxhat) {
    extern __shared__ unsigned char ember_smem[];
    T* sm = reinterpret_cast<T*>(ember_smem);
    const long long r = blockIdx.x;
    if (r >= M) return;
    const T* xr = x + r * N;
    const T* gr = g + r * N;
    const T m = mean[r], rs = rstd[r];
    T a = 0, bsum = 0;
    for (long long c = threadIdx.x; c < N; c += blockDim.x) {
        T gw = has_w ? gr[c] * w[c] : gr[c];
        a += gw;
        bsum += gw * (xr[c] - m) * rs;
    }
    a = ember_block_sum(a, sm) / (T)N;
    bsum = ember_block_sum(bsum, sm) / (T)N;
    for (long long c = threadIdx.x; c < N; c += blockDim.x) {
        const T xh = (xr[c] - m) * rs;
        const T gw = has_w ? gr[c] * w[c] : gr[c];
        dx[r * N + c] = rs * (gw - a - xh * bsum);
        if (want_gxhat) gxhat[r * N + c] = gr[c] * xh;
    }
}
'''


def layer_norm_forward(x2, w=None, b=None, eps=1e-5):
    """Rows (M, N): (y, mean (M,), rstd (M,)) with y = (x - mean) * rstd * w + b."""
    if isinstance(x2, _np.ndarray):
        x = x2.astype(_np.float64)
        mean = x.mean(axis=1)
        rstd = 1.0 / _np.sqrt(((x - mean[:, None]) ** 2).mean(axis=1) + eps)
        y = (x - mean[:, None]) * rstd[:, None]
        if w is not None:
            y = y * w.reshape(-1)
        if b is not None:
            y = y + b.reshape(-1)
        return y.astype(x2.dtype), mean.astype(x2.dtype), rstd.astype(x2.dtype)
    cp = _cp()
    x2 = cp.ascontiguousarray(x2)
    M, N = x2.shape
    dt = x2.dtype
    y, mean, rstd = cp.empty((M, N), dt), cp.empty(M, dt), cp.empty(M, dt)
    if M and N:
        dummy = cp.empty(1, dt)
        wd = cp.ascontiguousarray(w, dtype=dt).reshape(-1) if w is not None else dummy
        bd = cp.ascontiguousarray(b, dtype=dt).reshape(-1) if b is not None else dummy
        blk = _block(N)
        _raw('ember_ln_fwd', _LN_FWD, dt)((M,), (blk,), (x2, wd, bd, _np.int32(w is not None),
                                                        _np.int32(b is not None), _np.int64(M), _np.int64(N),
                                                        _f(eps, dt), y, mean, rstd), shared_mem=blk * dt.itemsize)
    return y, mean, rstd


def layer_norm_backward(g2, x2, mean, rstd, w=None, want_w=True, want_b=True):
    """Gradients (dx (M, N), dw (N,) or None, db (N,) or None) of layer_norm_forward's y."""
    if isinstance(x2, _np.ndarray):
        x, g = x2.astype(_np.float64), g2.astype(_np.float64)
        xh = (x - mean.astype(_np.float64)[:, None]) * rstd.astype(_np.float64)[:, None]
        gw = g * w.reshape(-1) if w is not None else g
        dx = rstd.astype(_np.float64)[:, None] * (gw - gw.mean(axis=1, keepdims=True) -
                                                  xh * (gw * xh).mean(axis=1, keepdims=True))
        dt = x2.dtype
        return (dx.astype(dt), (g * xh).sum(axis=0).astype(dt) if want_w else None,
                g.sum(axis=0).astype(dt) if want_b else None)
    cp = _cp()
    x2, g2 = cp.ascontiguousarray(x2), cp.ascontiguousarray(g2, dtype=x2.dtype)
    M, N = x2.shape
    dt = x2.dtype
    dx = cp.empty((M, N), dt)
    gx = cp.empty((M, N), dt) if want_w else cp.empty(1, dt)
    if M and N:
        wd = cp.ascontiguousarray(w, dtype=dt).reshape(-1) if w is not None else cp.empty(1, dt)
        blk = _block(N)
        _raw('ember_ln_bwd', _LN_BWD, dt)((M,), (blk,), (x2, g2, wd, _np.int32(w is not None), mean, rstd,
                                                        _np.int64(M), _np.int64(N), dx, gx, _np.int32(want_w)),
                                          shared_mem=blk * dt.itemsize)
    dw = gx.sum(axis=0) if want_w else None
    db = g2.sum(axis=0) if want_b else None
    return dx, dw, db


# ==== optimizer updates: one kernel per parameter does the whole update in one pass ==================================
# The scalars (learning rate, bias corrections) are Python numbers computed on the host from Python step counts, so a
# step never reads GPU memory on the host.

_SGD_BODY = '''
    AC d = (AC)g;
    if (maximize) d = -d;
    if (wd != (AC)0) d += wd * (AC)p;
    AC pb = (AC)buf;
    AC bnew = first ? d : momentum * pb + ((AC)1 - dampening) * d;
    buf = (T)bnew;
    d = nesterov ? d + momentum * bnew : bnew;
    p = (T)((AC)p - lr * d);
'''
_SGD_PLAIN = '''
    AC d = (AC)g;
    if (maximize) d = -d;
    if (wd != (AC)0) d += wd * (AC)p;
    p = (T)((AC)p - lr * d);
'''
_ADAM_BODY = '''
    AC gi = (AC)g;
    if (maximize) gi = -gi;
    AC pi = (AC)p;
    if (wd != (AC)0) {
        if (decoupled) pi = pi * ((AC)1 - lr * wd);
        else gi = gi + wd * pi;
    }
    AC mi = (AC)m;
    mi = mi + ((AC)1 - beta1) * (gi - mi);
    AC vi = beta2 * (AC)v + ((AC)1 - beta2) * gi * gi;
    m = (T)mi;
    v = (T)vi;
    AMS
    AC denom = sqrt(vh) / bc2_sqrt + eps;
    p = (T)(pi - step_size * mi / denom);
'''
_ADAM_PARAMS = ('T g, ACT lr, ACT beta1, ACT beta2, ACT eps, ACT wd, ACT step_size, ACT bc2_sqrt, bool decoupled, '
                'bool maximize')


def _data(a):
    return getattr(a, '_data', a)


def fused_sgd_(params, grads, momentum_buffers, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
               maximize=False, first=None):
    """SGD (PyTorch's update rule) on whole lists of arrays (or Tensors) in place, one kernel per parameter.

    ``momentum_buffers``: a list of arrays (or None entries). ``first`` (a bool, or one per parameter) marks a
    parameter's first step, whose buffer is set to the gradient rather than updated; by default a step is first
    where its buffer is None (a buffer is then made). Returns the list of buffers (None entries when momentum is
    0)."""
    out = []
    for i, (p, g) in enumerate(zip(params, grads)):
        p, g = _data(p), _data(g)
        buf = _data(momentum_buffers[i]) if momentum_buffers is not None else None
        is_first = first[i] if isinstance(first, (list, tuple)) else first
        if is_first is None:
            is_first = buf is None
        if isinstance(p, _np.ndarray):
            out.append(_np_sgd(p, g, buf, is_first, lr, momentum, dampening, weight_decay, nesterov, maximize))
            continue
        dt = p.dtype
        if momentum == 0:
            _elementwise('sgd', 'T g, ACT lr, ACT wd, bool maximize', 'T p', _SGD_PLAIN, dt)(
                g, _f(lr, dt), _f(weight_decay, dt), _np.bool_(maximize), p)
            out.append(None)
            continue
        if buf is None:
            buf = _cp().empty_like(p)
            is_first = True
        _elementwise('sgd_mom', 'T g, ACT lr, ACT wd, ACT momentum, ACT dampening, bool nesterov, bool first, '
                     'bool maximize', 'T p, T buf', _SGD_BODY, dt)(
            g, _f(lr, dt), _f(weight_decay, dt), _f(momentum, dt), _f(dampening, dt), _np.bool_(nesterov),
            _np.bool_(is_first), _np.bool_(maximize), p, buf)
        out.append(buf)
    return out


def _np_sgd(p, g, buf, first, lr, momentum, dampening, wd, nesterov, maximize):
    d = -g if maximize else g.copy()
    if wd:
        d = d + wd * p
    if momentum:
        if buf is None:
            buf = d.copy()
        elif first:
            buf[...] = d
        else:
            buf *= momentum
            buf += (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    p -= (lr * d).astype(p.dtype, copy=False)
    return buf if momentum else None


def fused_adam_(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                decoupled=False, amsgrad=False, max_exp_avg_sqs=None, maximize=False):
    """Adam (``decoupled=False``) or AdamW (``decoupled=True``) on whole lists in place, one kernel per parameter.

    ``steps``: the step number (after incrementing) for all parameters, or a list of one per parameter. With
    ``amsgrad`` the ``max_exp_avg_sqs`` list holds the running maxima. Returns None."""
    for i, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
        p, g, m, v = _data(p), _data(g), _data(m), _data(v)
        step = steps[i] if isinstance(steps, (list, tuple)) else steps
        step = float(step)
        bc1 = 1.0 - beta1 ** step
        bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
        step_size = lr / bc1
        vmax = _data(max_exp_avg_sqs[i]) if amsgrad else None
        if isinstance(p, _np.ndarray):
            _np_adam(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, step_size, bc2_sqrt, maximize)
            continue
        dt = p.dtype
        args = (g, _f(lr, dt), _f(beta1, dt), _f(beta2, dt), _f(eps, dt), _f(weight_decay, dt), _f(step_size, dt),
                _f(bc2_sqrt, dt), _np.bool_(decoupled), _np.bool_(maximize))
        if amsgrad:
            body = _ADAM_BODY.replace('AMS', 'AC vh = max((AC)vmax, vi); vmax = (T)vh;')
            _elementwise('adam_ams', _ADAM_PARAMS, 'T p, T m, T v, T vmax', body, dt)(*args, p, m, v, vmax)
        else:
            body = _ADAM_BODY.replace('AMS', 'AC vh = vi;')
            _elementwise('adam', _ADAM_PARAMS, 'T p, T m, T v', body, dt)(*args, p, m, v)


def _np_adam(p, g, m, v, vmax, lr, beta1, beta2, eps, wd, decoupled, step_size, bc2_sqrt, maximize):
    gi = -g if maximize else g
    if wd:
        if decoupled:
            p *= 1 - lr * wd
        else:
            gi = gi + wd * p
    m += (1 - beta1) * (gi - m)
    v *= beta2
    v += (1 - beta2) * gi * gi
    vh = v
    if vmax is not None:
        _np.maximum(vmax, v, out=vmax)
        vh = vmax
    p -= (step_size * m / (_np.sqrt(vh) / bc2_sqrt + eps)).astype(p.dtype, copy=False)
