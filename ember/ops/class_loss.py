"""Cross entropy and NLL loss: the reference definition composed of tensor ops, and the fused row path taken for speed
(array code on cpu, the CUDA kernels of backends/_row_kernels.py on cuda), pinned to the reference by
tests/test_class_loss.py."""
import math

from ..autograd.grad_mode import _State
from ..backends import checks_values, fused
from ._util import record, renamed, same_device, _wrap
from .nn_ops import _dtname

__all__ = ['class_loss', 'reference']


def reference(x, target, weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.0, logits=True):
    """PyTorch's cross_entropy (``logits``) or nll_loss (x holds log-probabilities) over the class dim (1; 0 for an
    unbatched (C,) input) against class indices (int) or class probabilities (float). Autograd derives the gradient."""
    cdim = 1 if x.ndim > 1 else 0
    C, eps = x.shape[cdim], label_smoothing
    eps_c = eps / C if C else (math.inf if eps > 0 else 0.0)  # (C = 0: PyTorch's eps / 0 = inf makes the loss nan)
    logp = x.log_softmax(cdim) if logits else x
    if weight is not None and not target.is_floating_point():
        weight = weight.detach()  # (PyTorch refuses a weight requiring grad here: class_loss raises before)
    w = 1.0 if weight is None else weight.reshape((C,) + (1,) * (x.ndim - cdim - 1))  # along the class dim
    if target.is_floating_point():  # probabilities, mixed with the uniform distribution by label smoothing
        loss = -(logp * (target * (1.0 - eps) + eps_c) * w).sum(cdim)
        n = float(x.numel() // C if C else 0) or math.nan  # samples (an empty input's mean is nan, as PyTorch's)
        return loss if reduction == 'none' else loss.sum() if reduction == 'sum' else loss.sum() / n
    # Ignored targets are masked (masked_fill), not multiplied by 0: their rows get an exact zero gradient even when
    # the mean's 1 / total weight is inf (every target ignored), as PyTorch's (nan loss, zero gradient).
    ignored = target == ignore_index
    t = target.long().masked_fill(ignored, 0)  # ignored targets pick class 0, masked below
    if C:
        picked = (logp.gather(cdim, t.unsqueeze(cdim)) if logits else _pick(x, t.unsqueeze(cdim), cdim)).squeeze(cdim)
        wt = (~ignored).to(x.dtype) if weight is None else weight[t].masked_fill(ignored, 0)
    else:  # no classes: every target is ignored (any other is out of bounds), nothing to pick
        picked = logp.sum(cdim) if logits else _pick(x, t.unsqueeze(cdim), cdim).squeeze(cdim)
        wt = picked.detach()
    loss = (-picked * wt).masked_fill(ignored, 0)
    if eps > 0:  # smoothing: eps of the target's weight spread over all classes
        loss = (1.0 - eps) * loss - eps_c * (logp * w).sum(cdim).masked_fill(ignored, 0)
    if reduction == 'none':
        return loss
    out = loss.sum() if reduction == 'sum' else loss.sum() / wt.sum()
    return out * math.nan if eps_c == math.inf else out  # (PyTorch scales the summed smoothing term: inf * 0)


def _connect(gx, x):
    """nll_loss's gradient ``gx`` (made with create_graph) as a function of x too, of derivative 0: PyTorch's
    NllLossBackwardBackward0 takes x, so a second derivative of nll_loss is zeros, not an unused-input error."""
    if not x.requires_grad:
        return gx
    return record(gx._data, gx._device, (gx, x), 'NllLossBackwardBackward0',
                  (lambda g: g, lambda g: _wrap(g._device.xp.zeros(x.shape, g._data.dtype), g._device)), holds=True)


def _pick(x, idx, cdim):
    """x.gather(cdim, idx) for nll_loss's reference, whose gradient stays a function of x (``_connect``)."""
    xp = x._device.xp
    if not x.shape[cdim]:  # no classes (every target ignored): zeros, of a zero (empty) gradient
        return record(xp.zeros(idx.shape, x._data.dtype), x._device, (x,), 'GatherBackward0',
                      (lambda g: _connect(x.new_zeros(x.shape), x),), holds=True)
    return record(xp.take_along_axis(x._data, idx._data, cdim), x._device, (x,), 'GatherBackward0',
                  (lambda g: _connect(x.new_zeros(x.shape).scatter_add(cdim, idx, g), x),), (idx,))


# ---- the fused row path: (N, C, d1...) as rows (M, C), one recorded node ------------------------------------------
# Per row r: lse = logsumexp x[r]; wt = w[t[r]] (1 without w), 0 when t[r] is ignore_index; W = sum_c w_c
#   loss[r] = (1 - eps) wt (lse - x[r, t]) + valid eps / C (W lse - sum_c w_c x[r, c])
#   dloss[r]/dx[r, c] = p_c ((1 - eps) wt + valid eps W / C) - [c == t] (1 - eps) wt - valid eps w_c / C
# (nll_loss: x holds log-probabilities, lse = 0 and p = 0, eps = 0.) The CUDA kernels (ember_xent_fwd/_bwd) compute
# the same for logits, one thread block per row; what the forward saves for the backward differs: the kernel keeps
# lse (and recomputes p), the array code keeps p's numerators.

def rows_forward(xp, x2, t, w, ignore_index, eps, logits=True):
    """(loss (M,), wt (M,), saved) of logits x2 (M, C) (log-probabilities if not ``logits``) against int64 targets
    t (M,), in array ops; saved is what rows_backward needs: the softmax as exp(x2 - row max) and its row sums, the
    picked classes, the valid rows."""
    M, C = x2.shape
    e = se = None
    lse = 0.0
    if logits:
        m = x2.max(axis=1, keepdims=True)
        e = x2 - m
        xp.exp(e, out=e)
        se = e @ xp.ones(C, x2.dtype)  # row sums as a matrix-vector product: BLAS, much faster than sum(axis=1)
        lse = xp.log(se) + m[:, 0]
    valid = t != ignore_index
    tt = t * valid
    wt = valid.astype(x2.dtype) if w is None else w[tt] * valid
    per = (lse - x2[xp.arange(M), tt]) * wt
    if eps > 0:
        w1 = xp.ones(C, x2.dtype) if w is None else w
        per = (1.0 - eps) * per + (eps / C) * (w1.sum() * lse - x2 @ w1) * valid
    return per, wt, (e, se, tt, valid)


def rows_backward(xp, x2, t, saved, scale, w, ignore_index, eps):
    """The gradient (M, C) of sum_r loss[r] * scale[r] (scale (M,), or one value for every row), in array ops (with
    the kernel's arguments: t and ignore_index are in ``saved`` already)."""
    e, se, tt, valid = saved
    (M, C), s = x2.shape, xp.where(valid, scale.reshape(-1), 0)  # an ignored row gets 0, also for an inf/nan scale
    coef = (1.0 - eps) * (s if w is None else s * w[tt])
    if e is None:  # log-probabilities
        d = xp.zeros((M, C), x2.dtype)
    else:
        d = e * ((coef if eps == 0 else coef + (eps / C) * (C if w is None else w.sum()) * s) / se)[:, None]
    d[xp.arange(M), tt] -= coef
    if eps > 0:
        d -= (eps / C) * (s[:, None] if w is None else s[:, None] * w)
    return d


def _fused(x, target, weight, ignore_index, reduction, eps, logits=True):
    """class_loss as one recorded node over rows: the CUDA kernels on cuda (logits), rows_forward/_backward else."""
    xp, xd = x._device.xp, x._data
    xs, C = xd.shape, xd.shape[1 if xd.ndim > 1 else 0]
    x2 = xd.reshape(1, C) if xd.ndim == 1 else xd if xd.ndim == 2 else xp.moveaxis(xd, 1, -1).reshape(-1, C)
    t = target._data.reshape(-1).astype('int64', copy=False)
    w = None if weight is None else weight._data
    fwd, bwd = (lambda *a: rows_forward(xp, *a, logits=logits)), (lambda *a: rows_backward(xp, *a))
    if logits and fused(x._device):
        from ..backends import cuda_kernels as K
        if K.supports(x2):
            fwd, bwd = K.softmax_xent_forward, K.softmax_xent_backward
    per, wv, saved = fwd(x2, t, w, ignore_index, eps)
    if reduction == 'none':
        out = per.reshape(target._data.shape)
    else:
        denom = wv.sum()
        out = per.sum() if reduction == 'sum' else per.sum() / denom  # 0/0 = nan when every target is ignored

    def grad_x(g):
        if _State.grad_enabled:  # create_graph: the reference's gradient, itself differentiable
            from ..autograd import grad
            ref = reference(x, target, weight, ignore_index, reduction, eps, logits)
            gx = grad(ref, x, g, create_graph=True)[0]
            return gx if logits else _connect(gx, x)
        gd = g._data
        d2 = bwd(x2, t, saved, gd / denom if reduction == 'mean' else gd, w, ignore_index, eps)
        if xd.ndim != 2:
            d2 = d2.reshape(xs) if xd.ndim == 1 else xp.moveaxis(d2.reshape(xs[:1] + xs[2:] + (C,)), -1, 1)
        return _wrap(d2, g._device)
    return record(out, x._device, (x,), 'NllLossBackward0', (grad_x,), (x,))


# ---- checks and dispatch --------------------------------------------------------------------------------------------

def _shape_list(s):
    return '[' + ', '.join(map(str, s)) + ']'


def _check_class_target(x, target, weight, op):
    """Validate (N, C, d1...) / (C,) input against an integer target of shape (N, d1...) / (), in PyTorch's order:
    the shapes, a weight requiring grad, the target's dtype."""
    xs, ts = x._data.shape, target._data.shape
    if not xs:
        raise RuntimeError(f'{op}: input must have at least 1 dimension (classes), got a 0-d tensor')
    want = xs[:1] + xs[2:] if len(xs) > 1 else ()
    if ts != want:
        if len(xs) <= 2 and len(ts) > 1:
            raise RuntimeError('0D or 1D target tensor expected, multi-target not supported')
        if len(xs) == 1 and len(ts) == 1:
            raise ValueError(f'For 1D input, 1D target must have size 1, but got target size: {ts[0]}')
        if len(xs) == 1:
            raise RuntimeError(f'{op}: for an unbatched input of shape {xs} the target must be a 0-d tensor, got '
                               f'shape {ts}')
        if len(xs) == 2 and len(ts) == 1:
            raise ValueError(f'Expected input batch_size ({xs[0]}) to match target batch_size ({ts[0]}).')
        raise RuntimeError(f'Expected target size {_shape_list(want)}, got {_shape_list(ts)} ({op}: input of shape '
                           f'{xs} is (N, C, d1, ...), so the target must be (N, d1, ...))')
    if weight is not None and weight.requires_grad and _State.grad_enabled:
        raise RuntimeError(f"The function '{'nll_loss2d_forward' if len(xs) > 2 else 'nll_loss_forward'}' is not "
                           f"differentiable with respect to argument 'weight'. This input cannot have requires_grad "
                           f"True.")
    if (target._data.dtype.kind, target._data.dtype.itemsize) not in (('i', 8), ('u', 1)):  # int64, uint8
        raise RuntimeError(f'expected target dtype to be Long or Byte, but got {_dtname(target)} ({op}: class '
                           f'indices must be ember.int64, got dtype {target.dtype.name} with shape {ts})')


def class_loss(x, target, weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.0, logits=True):
    """cross_entropy (``logits``) or nll_loss with PyTorch's checks and node names: the fused row path for the common
    case (class-index targets, float32/float64 input), the reference for the rest."""
    op = 'cross_entropy' if logits else 'nll_loss'
    probs = logits and target._data.shape == x._data.shape  # (PyTorch's test for class probabilities)
    if probs:
        if target._data.dtype.kind != 'f':
            raise RuntimeError(f'Expected floating point type for target with class probabilities, got '
                               f'{_dtname(target)}')
        if ignore_index >= 0:  # (PyTorch lets any negative one pass)
            raise RuntimeError('ignore_index is not supported for floating point target')
        C = x._data.shape[1 if x._data.ndim > 1 else 0]
        if weight is not None and (weight.ndim != 1 or weight.shape[0] != C):
            raise RuntimeError(f'{op}: weight tensor should be defined either for all {C} classes or no classes but '
                               f'got weight tensor of shape: {_shape_list(weight.shape)}')
    if label_smoothing > 1.0:  # (PyTorch's order: after the probabilities' checks, before all others)
        raise RuntimeError(f'label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}')
    label_smoothing = float(label_smoothing) if label_smoothing > 0 else 0.0  # (negative, nan: none, as PyTorch)
    if x._data.dtype.kind != 'f':  # PyTorch's kernel that refuses it
        kernel = ('log_softmax_lastdim_kernel_impl' if x.ndim < 3 else 'log_softmax_kernel_impl') if logits else \
            'nll_loss_out_frame' if x.ndim < 3 else 'nll_loss2d_forward_out_frame'
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_dtname(x)}\'')
    if probs:
        out = reference(x, target, weight, ignore_index, reduction, label_smoothing)
        # PyTorch's nodes; its mean of an empty input is nan (0 / 0 samples), not 0
        return renamed(out, 'DivBackward1' if reduction == 'mean' and x.numel() else 'NegBackward0', x)
    if logits and target._data.dtype.kind == 'f':
        raise RuntimeError(f'cross_entropy: a floating-point target holds class probabilities and must have the '
                           f'input\'s shape {tuple(x.shape)}, got {tuple(target.shape)} (dtype {target.dtype.name}); '
                           f'class indices must be an integer tensor (ember.int64) of shape '
                           f'{tuple(x.shape[:1] + x.shape[2:])}')
    if x.ndim == 1 and target.shape == (1,):  # PyTorch takes one class index in a (1,) target too
        target = target.reshape(())
    _check_class_target(x, target, weight, op)
    same_device(x, target, op)
    C = x._data.shape[1 if x._data.ndim > 1 else 0]
    if weight is not None:
        same_device(x, weight, op)
        if weight.ndim != 1 or weight.shape[0] != C:  # (PyTorch's words: nll_loss's, nll_loss2d's)
            raise RuntimeError('weight tensor should be defined either for all or no classes' if x.ndim > 2 else
                               f'weight tensor should be defined either for all {C} classes or no classes but got '
                               f'weight tensor of shape: {_shape_list(weight.shape)}')
        if weight._data.dtype != x._data.dtype:  # PyTorch refuses, rather than casting the weights
            raise RuntimeError(f'expected scalar type {_dtname(x)} but found {_dtname(weight)}')
    td = target._data
    if td.size and checks_values(x._device) and not 0 <= int(td.min()) <= int(td.max()) < C:  # (cuda: opt-in)
        tv = td[td != ignore_index]
        bad = tv[(tv < 0) | (tv >= C)]
        if bad.size:
            raise IndexError(f'Target {int(bad[0])} is out of bounds.')
    if C and x._data.dtype.char in 'fd':  # float32, float64 (dtype.char: dtype.name takes a microsecond)
        out = _fused(x, target, weight, ignore_index, reduction, label_smoothing, logits)
    else:
        out = reference(x, target, weight, ignore_index, reduction, label_smoothing, logits)
    # PyTorch's node: its (N, C, d1...) input runs as nll_loss2d, reshaped to 4 dims and back unless it has 4
    name = 'NllLossBackward0' if x.ndim < 3 else 'ViewBackward0' if reduction == 'none' and x.ndim != 4 else \
        'NllLoss2DBackward0'
    return renamed(out, 'AddBackward0' if label_smoothing > 0 else name, x)
