"""Fused neural-network ops (linear, activations, normalisations, embedding, binary cross entropy): one recorded node
each, forward and backward side by side. Backward runs on raw arrays when no graph is being built, and with tensor
ops under create_graph so second derivatives work (cross entropy / nll: ops/class_loss.py)."""
from ..autograd.grad_mode import _State
from ..backends import scatter_add as _scatter_add
from ._util import Tensor, record, same_device, _wrap, KERNEL_NAMES

__all__ = ['linear', 'layer_norm_fused', 'normalize_core', 'embedding', 'binary_cross_entropy']




def _dtname(t):
    return KERNEL_NAMES.get(t.dtype.name, t.dtype.name)


# ---- linear -------------------------------------------------------------------------------------------------------

def linear(x, w, b=None):
    """x @ w.T + b over the last dim of x: one node whose backward is three BLAS calls."""
    if not isinstance(x, Tensor) or not isinstance(w, Tensor):
        bad = w if isinstance(x, Tensor) else x
        raise TypeError(f'linear(): argument must be Tensor, not {type(bad).__name__}')
    same_device(x, w, 'linear')
    if x._data.dtype != w._data.dtype:
        raise RuntimeError(f'mat1 and mat2 must have the same dtype, but got {_dtname(x)} and {_dtname(w)}')
    if w.ndim != 2 or x.ndim == 0:
        out = x.matmul(w.t()) if w.ndim == 2 else x.matmul(w)
        return out + b if b is not None else out
    xs, ws = x.shape, w.shape
    n_out, n_in = ws
    if xs[-1] != n_in:
        rows = 1
        for s in xs[:-1]:
            rows *= s
        raise RuntimeError(f'mat1 and mat2 shapes cannot be multiplied ({rows}x{xs[-1]} and {n_in}x{n_out})')
    xd, wd = x._data, w._data
    x2 = xd if xd.ndim == 2 else xd.reshape(-1, n_in)
    out = x2 @ wd.T
    if out.dtype != xd.dtype:  # bfloat16 (ml_dtypes) products come back float32: round, as PyTorch
        out = out.astype(xd.dtype)
    if b is not None:
        if not isinstance(b, Tensor):
            raise TypeError(f'linear(): argument \'bias\' must be Tensor, not {type(b).__name__}')
        same_device(x, b, 'linear')
        if b._data.dtype != xd.dtype:
            raise RuntimeError(f'linear(): bias has dtype {b.dtype.name}, but input and weight have '
                               f'{x.dtype.name}')
        try:
            out += b._data
        except ValueError:
            raise RuntimeError(f'linear(): bias of shape {tuple(b.shape)} does not broadcast to the output shape '
                               f'{tuple(out.shape)}') from None
    if xd.ndim != 2:
        out = out.reshape(xs[:-1] + (n_out,))

    def grad_x(g):
        if _State.grad_enabled:
            return g.matmul(w)
        gd = g._data
        g2 = gd if gd.ndim == 2 else gd.reshape(-1, n_out)
        r = (g2 @ wd).astype(wd.dtype, copy=False)
        return _wrap(r if gd.ndim == 2 else r.reshape(xs), g._device)

    def grad_w(g):
        if _State.grad_enabled:
            return g.reshape(-1, n_out).t().matmul(x.reshape(-1, n_in))
        gd = g._data
        g2 = gd if gd.ndim == 2 else gd.reshape(-1, n_out)
        return _wrap((g2.T @ x2).astype(wd.dtype, copy=False), g._device)

    def grad_b(g):
        if _State.grad_enabled:
            return g.reshape(-1, n_out).sum(0).reshape(b.shape)
        gd = g._data
        g2 = gd if gd.ndim == 2 else gd.reshape(-1, n_out)
        return _wrap(g2.sum(0).reshape(b.shape), g._device)

    if b is None:
        return record(out, x._device, (x, w), 'MmBackward0', (grad_x, grad_w), (x, w))
    return record(out, x._device, (x, w, b), 'AddmmBackward0', (grad_x, grad_w, grad_b), (x, w))


# ---- elementwise activations -------------------------------------------------------------------------------------

def pointwise(x, data, deriv_array, deriv_tensor, name):
    """Record an elementwise op of x with result ``data``. Backward is ``g * deriv``: ``deriv_array()`` gives the
    derivative as an array (plain backward), ``deriv_tensor(x)`` as a tensor built from x (under create_graph)."""
    def grad(g):
        if _State.grad_enabled:
            return g * deriv_tensor(x)
        return _wrap(g._data * deriv_array(), g._device)
    return record(data, x._device, (x,), name, (grad,), (x,))


_SQRT1_2 = 0.7071067811865476
_2_SQRTPI = 1.1283791670955126


def erf_array(xp, x):
    """erf on an array: SciPy's/CuPy's when available, else a series (|x| < 3) / continued fraction (|x| >= 3)."""
    if xp.__name__ == 'numpy':
        try:
            from scipy.special import erf
            return erf(x)
        except ImportError:
            pass
    else:
        try:
            from cupyx.scipy.special import erf
            return erf(x)
        except ImportError:
            pass
    return _erf_fallback(xp, x)


def _erf_fallback(xp, x):
    xd = x.astype('float64')
    ax = xp.abs(xd)
    small = ax < 3.0
    # erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)): positive terms, no cancellation
    xs = xp.where(small, xd, 0.0)
    term = xs.copy()
    total = xs.copy()
    x2 = xs * xs
    for n in range(1, 80):
        term = term * (2.0 * x2) / (2 * n + 1)
        total = total + term
    series = _2_SQRTPI * xp.exp(-x2) * total
    # erfc(x) = exp(-x^2)/sqrt(pi) / (x + 1/2/(x + 1/(x + 3/2/(x + ...)))) for large |x|
    xl = xp.where(small, 3.0, ax)
    frac = xl
    for k in range(60, 0, -1):
        frac = xl + (k / 2.0) / frac
    erfc = xp.exp(-xl * xl) / (frac * 1.7724538509055159)
    large = xp.sign(xd) * (1.0 - erfc)
    return xp.where(small, series, large).astype(x.dtype)


def erf(x):
    """The error function, differentiable (d/dx erf = 2/sqrt(pi) exp(-x^2))."""
    xp = x._device.xp
    return pointwise(x, erf_array(xp, x._data), lambda: _2_SQRTPI * xp.exp(-x._data * x._data),
                     lambda t: (-(t * t)).exp() * _2_SQRTPI, 'ErfBackward0')


# ---- normalisation core ---------------------------------------------------------------------------------------------

def _mean_over(a, axes):
    return a.mean(axis=axes, keepdims=True)


def normalize_core(x, axes, eps, mean=None, var=None):
    """(x - mean) / sqrt(var + eps) over ``axes`` (kept). With mean/var arrays given (eval with running stats) they
    are constants; otherwise the biased batch statistics of x are used and differentiated through.

    Returns (xhat tensor, mean array, biased var array)."""
    xp = x._device.xp
    xd = x._data
    axes = tuple(axes)
    if mean is None:
        m = _mean_over(xd, axes)
        c = xd - m
        v = _mean_over(c * c, axes)
        inv = 1.0 / xp.sqrt(v + eps)
        xhat = c * inv

        def grad(g):
            if _State.grad_enabled:
                mt = x.mean(axes, keepdim=True)
                ct = x - mt
                it = ((ct * ct).mean(axes, keepdim=True) + eps).rsqrt()
                ht = ct * it
                return it * (g - g.mean(axes, keepdim=True) - ht * (g * ht).mean(axes, keepdim=True))
            gd = g._data
            hd = xhat
            r = gd - _mean_over(gd, axes) - hd * _mean_over(gd * hd, axes)
            r *= inv
            return _wrap(r, g._device)
        out = record(xhat, x._device, (x,), 'NativeBatchNormBackward0', (grad,), (x,))
        return out, m, v
    inv = 1.0 / xp.sqrt(var + eps)
    xhat = (xd - mean) * inv
    inv_t = inv.astype(xd.dtype, copy=False)

    def grad_eval(g):
        if _State.grad_enabled:
            return g * _wrap(inv_t, g._device)
        return _wrap(g._data * inv_t, g._device)
    out = record(xhat.astype(xd.dtype, copy=False), x._device, (x,), 'NativeBatchNormBackward0', (grad_eval,),
                 holds=True)
    return out, mean, var


def layer_norm_fused(x, k, w, b, eps):
    """layer_norm over the last ``k`` dims on cuda: one kernel forward (affine included), one for the input's
    gradient (weight/bias gradients are two column sums); the tensor-op formula under create_graph."""
    from ..backends.cuda_kernels import layer_norm_forward, layer_norm_backward
    xd = x._data
    shape = xd.shape
    N = 1
    for s in shape[xd.ndim - k:]:
        N *= s
    x2 = xd.reshape(-1, N)
    y, mean, rstd = layer_norm_forward(x2, w._data if w is not None else None, b._data if b is not None else None, eps)
    ins = (x, w, b)
    want = [t is not None and t.requires_grad for t in ins]
    pending = {}

    def grads(g, i):
        if _State.grad_enabled:
            return _layer_norm_grads_composite(g, x, w, k, eps)[i]
        if not pending:
            dx, dw, db = layer_norm_backward(g._data.reshape(-1, N), x2, mean, rstd,
                                             w._data if w is not None else None, want[1], want[2])
            pending.update({j: r for j, r in enumerate((dx.reshape(shape), dw, db)) if want[j]})
        r = pending.pop(i)
        return _wrap(r.reshape(ins[i].shape) if i else r, g._device)
    return record(y.reshape(shape), x._device, ins, 'NativeLayerNormBackward0',
                  tuple((lambda g, i=i: grads(g, i)) for i in range(3)), (x,))


def layer_norm_cpu(x, k, w, b, eps):
    """layer_norm over the last ``k`` dims as one node with array formulas (the array-module twin of
    layer_norm_fused): forward mean/variance/normalise/affine in a few in-place passes, backward the input's gradient
    in closed form and weight/bias gradients as column sums; the tensor-op formula under create_graph."""
    xp = x._device.xp
    xd = x._data
    shape = xd.shape
    N = 1
    for s in shape[xd.ndim - k:]:
        N *= s
    x2 = xd.reshape(-1, N)
    xhat = x2 - x2.mean(1, keepdims=True)
    var = xp.multiply(xhat, xhat).mean(1, keepdims=True)
    var += eps
    rstd = xp.sqrt(var, out=var)
    xp.reciprocal(rstd, out=rstd)
    xhat *= rstd
    wd = w._data.reshape(N) if w is not None else None
    y = xhat * wd if w is not None else xhat.copy()
    if b is not None:
        y += b._data.reshape(N)
    ins = (x, w, b)
    want = [t is not None and t.requires_grad for t in ins]
    pending = {}

    def grads(g, i):
        if _State.grad_enabled:
            return _layer_norm_grads_composite(g, x, w, k, eps)[i]
        if pending.get('g') is not g._data:  # a new backward (retain_graph): drop what an earlier one left
            pending.clear()
            pending['g'] = g._data
            g2 = g._data.reshape(-1, N)
            if want[0]:
                gw = g2 * wd if w is not None else g2.copy()
                dot = xp.multiply(gw, xhat).mean(1, keepdims=True)
                gw -= gw.mean(1, keepdims=True)
                gw -= xhat * dot
                gw *= rstd
                pending[0] = gw.reshape(shape)
            if want[1]:
                pending[1] = xp.multiply(g2, xhat).sum(0)
            if want[2]:
                pending[2] = g2.sum(0)
        r = pending.pop(i)
        return _wrap(r.reshape(ins[i].shape) if i else r, g._device)
    return record(y.reshape(shape), x._device, ins, 'NativeLayerNormBackward0',
                  tuple((lambda g, i=i: grads(g, i)) for i in range(3)), (x,))


def _layer_norm_grads_composite(g, x, w, k, eps):
    axes = tuple(range(x.ndim - k, x.ndim))
    lead = tuple(range(x.ndim - k))
    mt = x.mean(axes, keepdim=True)
    ct = x - mt
    it = ((ct * ct).mean(axes, keepdim=True) + eps).rsqrt()
    ht = ct * it
    gw = g * w if w is not None else g
    dx = it * (gw - gw.mean(axes, keepdim=True) - ht * (gw * ht).mean(axes, keepdim=True))
    dw = (g * ht).sum(lead) if lead else g * ht
    db = g.sum(lead) if lead else g
    return dx, dw, db


# ---- embedding ------------------------------------------------------------------------------------------------------

def embedding(idx, weight, padding_idx=None, scale_grad_by_freq=False):
    """weight[idx] with a gradient that scatters rows back (the padding row's gradient stays zero)."""
    xp = weight._device.xp
    id_ = idx._data
    out = weight._data[id_]
    V, D = weight.shape

    def counts():
        flat = id_.reshape(-1)
        return xp.bincount(flat, minlength=V)

    def grad(g):
        flat = id_.reshape(-1)
        if _State.grad_enabled:
            from .index import index_add
            from .._creation import zeros
            from .._tensor import Tensor as _T  # noqa: F401
            g2 = g.reshape(-1, D)
            if scale_grad_by_freq:
                c = counts().astype(g._data.dtype)
                g2 = g2 / _wrap(xp.maximum(c[flat], 1).reshape(-1, 1), g._device)
            gw = index_add(zeros((V, D), dtype=g.dtype, device=g._device), 0, _wrap(flat, g._device), g2)
            if padding_idx is not None:
                mask = xp.ones((V, 1), dtype=g._data.dtype)
                mask[padding_idx] = 0
                gw = gw * _wrap(mask, g._device)
            return gw
        g2 = g._data.reshape(-1, D)
        if scale_grad_by_freq:
            c = counts().astype(g2.dtype)
            g2 = g2 / xp.maximum(c[flat], 1).reshape(-1, 1)
        gw = _rows_scatter_sum(xp, flat, g2, V)
        if padding_idx is not None:
            gw[padding_idx] = 0
        return _wrap(gw, g._device)
    return record(out, weight._device, (weight,), 'EmbeddingBackward0', (grad,), (idx,), holds=True)


def _rows_scatter_sum(xp, flat, g2, V):
    """(V, D) rows summing g2's rows by index ``flat``. On the CPU a stable sort groups equal indices and one
    add.reduceat sums each group (in the original order, as add.at would) -- several times faster than add.at."""
    gw = xp.zeros((V, g2.shape[1]), dtype=g2.dtype)
    if xp.__name__ != 'numpy' or flat.size == 0 or g2.shape[1] == 0:
        _scatter_add(gw, flat, g2)
        return gw
    order = xp.argsort(flat, kind='stable')
    keys = flat[order]
    starts = xp.flatnonzero(xp.concatenate(([True], keys[1:] != keys[:-1])))
    gw[keys[starts]] = xp.add.reduceat(g2[order], starts, axis=0)
    return gw


# ---- binary cross entropy -------------------------------------------------------------------------------------------

def binary_cross_entropy(x, t):
    """Unreduced -(t log x + (1 - t) log(1 - x)) with both logs clamped at -100 (PyTorch's convention); the input
    gradient is (x - t) / max(x (1 - x), 1e-12)."""
    xp = x._device.xp
    xd, td = x._data, t._data
    lx = xp.maximum(xp.log(xd), -100.0)
    l1x = xp.maximum(xp.log1p(-xd), -100.0)
    data = -(td * lx + (1 - td) * l1x)

    def grad_x(g):
        if _State.grad_enabled:
            return g * (x - t) / ((1.0 - x) * x).clamp(min=1e-12)
        return _wrap(g._data * (xd - td) / xp.maximum((1 - xd) * xd, 1e-12), g._device)

    def grad_t(g):
        if _State.grad_enabled:
            return g * ((-x).log1p().clamp(min=-100.0) - x.log().clamp(min=-100.0))
        return _wrap(g._data * (l1x - lx), g._device)
    return record(data.astype(xd.dtype, copy=False), x._device, (x, t), 'BinaryCrossEntropyBackward0',
                  (grad_x, grad_t), (x, t))
