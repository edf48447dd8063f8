"""Fused neural-network ops (linear, class-index losses, normalisations): one recorded node each, forward and backward
side by side. Backward runs on raw arrays when no graph is being built, and with tensor ops under create_graph so
second derivatives work."""
from ..autograd.grad_mode import _State
from ..backends import checks_values, fused, scatter_add as _scatter_add
from ._util import Tensor, record, same_device, _wrap

__all__ = ['linear', 'class_loss', 'layer_norm_fused', 'normalize_core', 'embedding', 'binary_cross_entropy']


_DT_NAMES = {'float32': 'Float', 'float64': 'Double', 'float16': 'Half', 'int64': 'Long', 'int32': 'Int',
             'int16': 'Short', 'int8': 'Char', 'uint8': 'Byte', 'bool': 'Bool'}


def _dtname(t):
    return _DT_NAMES.get(t.dtype.name, t.dtype.name)


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


# ---- cross entropy / nll with class indices ------------------------------------------------------------------------

def _shape_list(s):
    return '[' + ', '.join(map(str, s)) + ']'


def _check_class_target(x, target, op):
    """Validate (N, C, d1...) / (C,) input against an integer target of shape (N, d1...) / ()."""
    if target._data.dtype.name not in ('int64', 'uint8'):
        raise RuntimeError(f'expected target dtype to be Long or Byte, but got {_dtname(target)} ({op}: class '
                           f'indices must be ember.int64, got dtype {target.dtype.name} with shape '
                           f'{tuple(target.shape)})')
    if x.ndim == 0:
        raise RuntimeError(f'{op}: input must have at least 1 dimension (classes), got a 0-d tensor')
    if x.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError(f'{op}: for an unbatched input of shape {tuple(x.shape)} the target must be a 0-d '
                               f'tensor, got shape {tuple(target.shape)}')
        return
    if x.ndim == 2 and target.ndim == 1 and target.shape[0] != x.shape[0]:
        raise ValueError(f'Expected input batch_size ({x.shape[0]}) to match target batch_size '
                         f'({target.shape[0]}).')
    want = tuple(x.shape[:1] + x.shape[2:])
    if tuple(target.shape) != want:
        raise RuntimeError(f'Expected target size {_shape_list(want)}, got {_shape_list(target.shape)} ({op}: input '
                           f'of shape {tuple(x.shape)} is (N, C, d1, ...), so the target must be (N, d1, ...))')


def class_loss(x, target, weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.0, logits=True,
               _fused=True):
    """Cross entropy (``logits=True``: log-softmax over dim 1 fused in) or NLL (``logits=False``: x holds
    log-probabilities) against integer class indices, with class weights, ignore_index and label smoothing."""
    op = 'cross_entropy' if logits else 'nll_loss'
    _check_class_target(x, target, op)
    same_device(x, target, op)
    xp = x._device.xp
    xd = x._data
    if xd.dtype.kind != 'f':
        raise RuntimeError(f'{op}: expected a floating-point input, got dtype {x.dtype.name}')
    dt = xd.dtype
    xs = xd.shape
    C = xs[1] if xd.ndim >= 2 else xs[0]
    # rows of classes: (M, C)
    if xd.ndim == 1:
        x2 = xd.reshape(1, C)
    elif xd.ndim == 2:
        x2 = xd
    else:
        x2 = xp.moveaxis(xd, 1, -1).reshape(-1, C)
    t = target._data.reshape(-1)
    M = t.shape[0]
    on_cpu = x._device.type == 'cpu'  # on cuda: no host syncs (no all-valid shortcut, no bounds check, device denom)
    wd = None
    if weight is not None:
        same_device(x, weight, op)
        if weight.ndim != 1 or weight.shape[0] != C:
            raise RuntimeError(f'{op}: weight tensor should be defined either for all {C} classes or no classes but '
                               f'got weight tensor of shape: {_shape_list(weight.shape)}')
        if weight._data.dtype != dt:  # PyTorch refuses, rather than casting the weights
            raise RuntimeError(f'expected scalar type {_dtname(x)} but found {_dtname(weight)}')
        wd = weight._data
    if logits and _fused and fused(x._device):
        from ..backends.cuda_kernels import supports
        if supports(x2):
            if M and checks_values(x._device):  # EMBER_CUDA_CHECKS=1
                tv = t[t != ignore_index]
                if tv.size and (int(tv.min()) < 0 or int(tv.max()) >= C):
                    raise IndexError(f'Target {int(tv[(tv < 0) | (tv >= C)][0])} is out of bounds.')
            return _class_loss_fused(x, target, x2, t, wd, ignore_index, reduction, float(label_smoothing), op)
    valid = t != ignore_index
    all_valid = bool(valid.all()) if on_cpu else False
    tt = t if all_valid else xp.where(valid, t, 0)
    if M and checks_values(x._device) and (int(tt.min()) < 0 or int(tt.max()) >= C):
        bad = tt[(tt < 0) | (tt >= C)][0]
        raise IndexError(f'Target {int(bad)} is out of bounds.')
    rows = xp.arange(M)
    if logits:
        logp = x2 - x2.max(axis=1, keepdims=True)
        logp -= xp.log(xp.exp(logp).sum(axis=1, keepdims=True))
    else:
        logp = x2
    # per-row weight of the picked class (0 where ignored)
    if wd is not None:
        wt = wd[tt]
        if not all_valid:
            wt = wt * valid
    else:
        wt = valid.astype(dt) if not all_valid else None
    picked = logp[rows, tt]
    per = -picked if wt is None else -picked * wt
    eps = float(label_smoothing)
    if eps > 0.0:
        smooth = -(logp * wd).sum(axis=1) if wd is not None else -logp.sum(axis=1)
        if not all_valid:
            smooth = smooth * valid
        per = (1.0 - eps) * per + (eps / C) * smooth
    if reduction == 'none':
        out = per.reshape(target.shape)
        denom = None
    elif reduction == 'sum':
        out = xp.asarray(per.sum(), dtype=dt)
        denom = None
    elif reduction == 'mean':
        if on_cpu:
            denom = float(M) if wt is None else float(wt.sum())
            out = xp.asarray(per.sum() / dt.type(denom), dtype=dt)  # 0/0 = nan when every target is ignored
        else:  # the denominator stays a device array
            denom = wt.sum() if wt is not None else dt.type(M)
            out = (per.sum() / denom).astype(dt, copy=False)
    else:
        raise ValueError(f'{reduction} is not a valid value for reduction')

    def row_scale(g):
        """The output gradient per row (M,) or as a scalar."""
        if reduction == 'none':
            return g.reshape(-1)
        if reduction == 'mean':
            return g / (denom if on_cpu else float(denom))  # (create_graph on cuda: one sync, rare enough)
        return g

    def grad_array(gd):
        gr = gd.reshape(-1, 1) if reduction == 'none' else gd
        if reduction == 'mean':
            gr = gr / (dt.type(denom) if on_cpu else denom)
        coef = (1.0 - eps) * (wt if wt is not None else 1.0)
        grad = xp.zeros_like(logp) if not logits else None
        if logits:
            p = xp.exp(logp)
            if eps > 0.0:
                wsum = (float(wd.sum()) if on_cpu else wd.sum()) if wd is not None else float(C)
                rowc = coef + (eps / C) * wsum * (valid if not all_valid else 1.0)
            else:
                rowc = coef
            if isinstance(rowc, (int, float)):
                grad = p * rowc if rowc != 1.0 else p
            else:
                grad = p * rowc.reshape(-1, 1).astype(dt, copy=False)
        grad[rows, tt] -= coef if isinstance(coef, float) else coef.astype(dt, copy=False)
        if eps > 0.0:
            sw = wd if wd is not None else dt.type(1.0)
            if all_valid:
                grad -= (eps / C) * sw
            else:
                grad -= (eps / C) * valid.reshape(-1, 1).astype(dt) * sw
        if reduction == 'none':
            grad *= gr
        else:
            grad *= gr.astype(dt) if hasattr(gr, 'astype') else gr
        return grad

    def unflatten(grad2):
        if xd.ndim == 1:
            return grad2.reshape(xs)
        if xd.ndim == 2:
            return grad2
        moved = (xs[0],) + tuple(xs[2:]) + (C,)
        return xp.moveaxis(grad2.reshape(moved), -1, 1)

    def grad_tensor(g):
        # composite form (differentiable again) for create_graph
        from .._creation import zeros
        coef = (1.0 - eps) * (_wrap(wt, x._device) if wt is not None else 1.0)
        hot = zeros((M, C), dtype=dt, device=x._device)
        hot._data[rows, tt] = 1.0
        xm = x if x.ndim == 2 else (x.reshape(1, C) if x.ndim == 1 else x.movedim(1, -1).reshape(-1, C))
        coef_col = coef.reshape(-1, 1) if isinstance(coef, Tensor) else coef
        if logits:
            p = xm.softmax(1)
            rowc = coef_col
            if eps > 0.0:
                wsum = float(wd.sum()) if wd is not None else float(C)
                vcol = _wrap(valid.reshape(-1, 1).astype(dt), x._device) if not all_valid else 1.0
                rowc = rowc + (eps / C) * wsum * vcol
            grad = p * rowc - hot * coef_col
        else:
            grad = -hot * coef_col
        if eps > 0.0:
            sw = _wrap(wd, x._device) if wd is not None else 1.0
            vcol = _wrap(valid.reshape(-1, 1).astype(dt), x._device) if not all_valid else 1.0
            grad = grad - (eps / C) * vcol * sw
        gr = row_scale(g)
        grad = grad * (gr.reshape(-1, 1) if reduction == 'none' else gr)
        if x.ndim == 1:
            return grad.reshape(xs)
        if x.ndim == 2:
            return grad
        return grad.reshape((xs[0],) + tuple(xs[2:]) + (C,)).movedim(-1, 1)

    def grad_x(g):
        if _State.grad_enabled:
            return grad_tensor(g)
        return _wrap(unflatten(grad_array(g._data)), g._device)

    return record(out, x._device, (x,), 'NllLossBackward0', (grad_x,), (x,))


def _class_loss_fused(x, target, x2, t, wd, ignore_index, reduction, eps, op):
    """cross_entropy on cuda: one kernel for log-softmax + pick + smoothing per row, one for the whole gradient."""
    from ..backends.cuda_kernels import softmax_xent_forward, softmax_xent_backward
    xd = x._data
    xs = xd.shape
    C = x2.shape[1]
    per, wv, lse = softmax_xent_forward(x2, t, wd, ignore_index, eps)
    denom = None
    if reduction == 'none':
        out = per.reshape(target.shape)
    elif reduction == 'sum':
        out = per.sum()
    elif reduction == 'mean':
        denom = wv.sum()
        out = per.sum() / denom  # 0/0 = nan when every target is ignored, as in PyTorch
    else:
        raise ValueError(f'{reduction} is not a valid value for reduction')

    def grad_x(g):
        if _State.grad_enabled:  # create_graph: the composite form, differentiated by autograd itself
            from ..autograd import grad
            weight = _wrap(wd, x._device) if wd is not None else None
            loss = class_loss(x, target, weight, ignore_index, reduction, eps, logits=True, _fused=False)
            return grad(loss, x, g, create_graph=True)[0]
        gd = g._data
        scale = gd.reshape(-1) if reduction == 'none' else (gd / denom if reduction == 'mean' else gd)
        d2 = softmax_xent_backward(x2, t, lse, scale, wd, ignore_index, eps)
        if xd.ndim == 1:
            d = d2.reshape(xs)
        elif xd.ndim == 2:
            d = d2
        else:
            d = x._device.xp.moveaxis(d2.reshape((xs[0],) + tuple(xs[2:]) + (C,)), -1, 1)
        return _wrap(d, g._device)
    return record(out, x._device, (x,), 'NllLossBackward0', (grad_x,), (x,))


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
    out = record(xhat.astype(xd.dtype, copy=False), x._device, (x,), 'NativeBatchNormBackward0', (grad_eval,))
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
    return record(out, weight._device, (weight,), 'EmbeddingBackward0', (grad,))


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
