"""Fused CuPy kernels for the cuda path (RNG, ReLU/GELU, softmax cross-entropy, LayerNorm, optimizer updates)."""
# Every kernel is compiled lazily, on first use, and only once CuPy is imported: importing this module needs no GPU.
# Each entry point also accepts NumPy arrays and then runs a NumPy reference of the same arithmetic, so the math and
# the calling conventions are tested on any machine; tests/test_cuda_kernels.py compares the two on a GPU. (Cross
# entropy's is not here: its NumPy form is the cpu path itself, ember/ops/class_loss.py rows_forward/rows_backward.)
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


# The kernel families live in modules by concern (imported last: they build on the helpers above); every name stays
# reachable here, as callers and tests use it (cuda_kernels._SGD_BODY, cuda_kernels.fused_adam_, ...).
from ._rng_kernels import (_RNG_PREAMBLE, _UNIFORM, _NORMAL, _rng_kernel, _shape, _numel,  # noqa: E402,F401
                           _np_draw, _np_unit, rng_uniform, rng_normal, rng_bits, rng_integers)
from ._row_kernels import (_ROW_PREAMBLE, _block, _XENT_FWD, _XENT_BWD, softmax_xent_forward,  # noqa: E402,F401
                           softmax_xent_backward, _LN_FWD, _LN_BWD, layer_norm_forward, layer_norm_backward)
from ._optim_kernels import (_SGD_BODY, _SGD_PLAIN, _ADAM_BODY, _ADAM_PARAMS, _data, fused_sgd_,  # noqa: E402,F401
                             _np_sgd, fused_adam_, _np_adam)
