"""ember.nn.functional: loss functions with reduction 'none' | 'mean' | 'sum' (legacy size_average/reduce accepted)."""
import warnings

from ..._tensor import Tensor
from ...ops import elementwise as _E
from ...ops import nn_ops as _nn
from ...ops.class_loss import class_loss as _class_loss
from ...ops._util import renamed as _renamed, record as _record, unbroadcast as _unbroadcast
from ...autograd.grad_mode import _State
from ...backends import checks_values
from .activation import softplus as _softplus

__all__ = ['mse_loss', 'l1_loss', 'smooth_l1_loss', 'huber_loss', 'cross_entropy', 'nll_loss', 'binary_cross_entropy',
           'binary_cross_entropy_with_logits', 'kl_div', 'cosine_embedding_loss', 'margin_ranking_loss',
           'hinge_embedding_loss', 'soft_margin_loss', 'poisson_nll_loss', 'gaussian_nll_loss',
           'triplet_margin_loss', 'multilabel_soft_margin_loss', 'multi_margin_loss', 'multilabel_margin_loss',
           'triplet_margin_with_distance_loss']


def _legacy_reduction(size_average, reduce, reduction, emit=True):
    """PyTorch's pre-0.4 ``size_average``/``reduce`` flags, mapped onto ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = 'none' if not reduce else ('mean' if size_average else 'sum')
    if emit:
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                      UserWarning, stacklevel=3)
    return ret


def _reduce(loss, reduction):
    if reduction == 'none':
        return loss
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    raise ValueError(f'{reduction} is not a valid value for reduction')


def _check_tensor(x, name, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def _pair(input, target, op, warn=True):
    _check_tensor(input, 'input', op)
    _check_tensor(target, 'target', op)
    if target.shape != input.shape:
        if warn:
            warnings.warn(f'Using a target size ({target.shape}) that is different to the input size '
                          f'({input.shape}). This will likely lead to incorrect results due to broadcasting. Please '
                          f'ensure they have the same size.', UserWarning, stacklevel=3)
        try:
            import numpy as _np
            _np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ValueError:
            raise RuntimeError(f'{op}: the size of input {tuple(input.shape)} and the size of target '
                               f'{tuple(target.shape)} cannot be broadcast together') from None


def mse_loss(input, target, size_average=None, reduce=None, reduction='mean', weight=None):
    """(input - target)^2, reduced."""
    _pair(input, target, 'mse_loss')
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is None and reduction in ('mean', 'sum', 'none'):
        return _mse_fused(input, target, reduction)
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * weight
    return _renamed(_reduce(loss, reduction), 'MseLossBackward0')


def _mse_fused(input, target, reduction):
    """mse_loss as one node, as PyTorch records it (grad_fn MseLossBackward0 whose inputs are input and target);
    the backward, 2 (input - target) g [/ n], is written with tensor ops so double backward works."""
    prev = _State.grad_enabled
    _State.grad_enabled = False
    try:
        d = input - target
        loss = _reduce(d * d, reduction)
    finally:
        _State.grad_enabled = prev
    scale = 2.0 / max(d.numel(), 1) if reduction == 'mean' else 2.0
    si, st = input.shape, target.shape

    def grad_input(g):
        return _unbroadcast(g * (input - target) * scale, si)

    def grad_target(g):
        return _unbroadcast(g * (target - input) * scale, st)
    return _record(loss._data, loss._device, (input, target), 'MseLossBackward0', (grad_input, grad_target),
                   (input, target))


def l1_loss(input, target, size_average=None, reduce=None, reduction='mean', weight=None):
    """|input - target|, reduced."""
    _pair(input, target, 'l1_loss')
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = (input - target).abs()
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction='mean', beta=1.0):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target); beta=0 is l1_loss."""
    _pair(input, target, 'smooth_l1_loss')
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError('smooth_l1_loss does not support negative values for beta.')
    d = input - target
    ad = d.abs()
    if beta == 0:
        return _reduce(ad, reduction)
    loss = _E.where(ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta)
    return _renamed(_reduce(loss, reduction), 'SmoothL1LossBackward0')


def huber_loss(input, target, reduction='mean', delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, delta * (|d| - 0.5 delta) elsewhere."""
    _pair(input, target, 'huber_loss')
    if delta <= 0:
        raise RuntimeError('huber_loss does not support non-positive values for delta.')
    d = input - target
    ad = d.abs()
    loss = _E.where(ad < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _renamed(_reduce(loss, reduction), 'HuberLossBackward0')


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean',
                  label_smoothing=0.0):
    """Cross entropy between logits ``input`` (N, C, d1, ...) or (C,) and ``target``: class indices (N, d1, ...)
    (int64) or class probabilities of the input's shape (float). The definition: ops/class_loss.py ``reference``."""
    _check_tensor(input, 'input', 'cross_entropy')
    _check_tensor(target, 'target', 'cross_entropy')
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ('none', 'mean', 'sum'):
        raise ValueError(f'{reduction} is not a valid value for reduction')
    return _class_loss(input, target, weight, ignore_index, reduction, label_smoothing, logits=True)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction='mean'):
    """Negative log likelihood of log-probabilities ``input`` (N, C, d1, ...) at class indices ``target``."""
    _check_tensor(input, 'input', 'nll_loss')
    _check_tensor(target, 'target', 'nll_loss')
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ('none', 'mean', 'sum'):
        raise ValueError(f'{reduction} is not a valid value for reduction')
    return _class_loss(input, target, weight, ignore_index, reduction, 0.0, logits=False)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction='mean'):
    """-w (t log x + (1 - t) log(1 - x)) for probabilities x, with the logs clamped at -100 as in PyTorch."""
    _check_tensor(input, 'input', 'binary_cross_entropy')
    _check_tensor(target, 'target', 'binary_cross_entropy')
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f'Using a target size ({target.shape}) that is different to the input size '
                         f'({input.shape}) is deprecated. Please ensure they have the same size.')
    if target._data.dtype.kind != 'f':
        raise RuntimeError(f'binary_cross_entropy: expected a floating-point target (probabilities of the input\'s '
                           f'shape), got dtype {target.dtype.name}')
    xd = input._data
    xp = input._device.xp
    # one host sync on cpu; on cuda only with EMBER_CUDA_CHECKS=1 (PyTorch asserts on the device there)
    if xd.size and checks_values(input._device) and bool(((xd < 0) | (xd > 1) | xp.isnan(xd)).any()):
        raise RuntimeError('all elements of input should be between 0 and 1')
    loss = _nn.binary_cross_entropy(input, target)
    if weight is not None:
        loss = loss * weight
    return _renamed(_reduce(loss, reduction), 'BinaryCrossEntropyBackward0')


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction='mean',
                                     pos_weight=None):
    """binary_cross_entropy(sigmoid(input), target) computed stably from logits; ``pos_weight`` weights the
    positive term per class."""
    _check_tensor(input, 'input', 'binary_cross_entropy_with_logits')
    _check_tensor(target, 'target', 'binary_cross_entropy_with_logits')
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f'Target size ({target.shape}) must be the same as input size ({input.shape})')
    if target._data.dtype.kind != 'f':
        target = target.to(input.dtype)
    sp = _softplus(-input)  # -log(sigmoid(x))
    if pos_weight is not None:
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * sp
    else:
        loss = (1.0 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _renamed(_reduce(loss, reduction), 'BinaryCrossEntropyWithLogitsBackward0')


def kl_div(input, target, size_average=None, reduce=None, reduction='mean', log_target=False):
    """KL(target || exp(input)) pointwise: target * (log target - input) (input holds log-probabilities)."""
    _check_tensor(input, 'input', 'kl_div')
    _check_tensor(target, 'target', 'kl_div')
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction == 'mean':
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        pos = target > 0
        safe = _E.where(pos, target, 1.0)
        loss = _E.where(pos, target * safe.log(), 0.0) - target * input
    if reduction == 'batchmean':
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction='mean'):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where target is -1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input1.ndim not in (1, 2) or input1.shape != input2.shape:
        raise RuntimeError(f'cosine_embedding_loss: input1 {tuple(input1.shape)} and input2 {tuple(input2.shape)} '
                           f'must be 1-D or 2-D tensors of the same shape')
    d = input1.ndim - 1
    if target.ndim != d or (d == 1 and target.shape[0] != input1.shape[0]):
        raise RuntimeError(f'cosine_embedding_loss: expected target of shape {tuple(input1.shape[:d])} for inputs of '
                           f'shape {tuple(input1.shape)}, got {tuple(target.shape)}')
    eps = 1e-12
    prod = (input1 * input2).sum(d)
    m1 = (input1 * input1).sum(d) + eps
    m2 = (input2 * input2).sum(d) + eps
    cos = prod / (m1 * m2).sqrt()
    zeros = cos * 0.0
    pos = _E.where(target == 1, 1.0 - cos, zeros)
    neg = _E.where(target == -1, (cos - margin).clamp(min=0), zeros)
    return _reduce(pos + neg, reduction)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction='mean'):
    """max(0, -target * (input1 - input2) + margin)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction='mean'):
    """x where target is 1, max(0, margin - x) where target is -1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    zeros = input * 0.0
    margin_clamp = (margin - input).clamp(min=0)
    out_margin = _E.where(target != 1, margin_clamp, zeros)
    out_self = _E.where(target != -1, input, zeros)
    return _reduce(out_margin + out_self, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction='mean'):
    """log(1 + exp(-target * input))."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _reduce(_softplus(-target * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction='mean'):
    """Mean over classes of the binary cross entropy with logits; one value per sample."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = -(target * -_softplus(-input) + (1 - target) * -_softplus(input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(-1) / input.shape[-1]
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction='mean'):
    """exp(input) - target * input (log_input) or input - target * log(input + eps); full adds Stirling's term."""
    import math
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        t = target
        safe = _E.where(t > 1, t, 2.0)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + _E.where(t > 1, stirling, stirling * 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction='mean'):
    """0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps)), plus 0.5 log(2 pi) when full."""
    import math
    if isinstance(var, (int, float)):
        var = input.new_full(tuple(input.shape), float(var))
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (input.shape[:-1] == var.shape[:-1] and var.shape[-1] == 1):
            raise ValueError('var is of incorrect size')
    if reduction not in ('none', 'mean', 'sum'):
        raise ValueError(reduction + ' is not valid')
    if bool((var._data < 0).any()):
        raise ValueError('var has negative entry/entries')
    from ...autograd.grad_mode import no_grad
    with no_grad():
        clamped = var.clamp(min=eps)
    var = var + (clamped - var).detach() if var.requires_grad else clamped
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def _pdist(x1, x2, p, eps):
    return (x1 - x2 + eps).norm(p, dim=-1)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction='mean'):
    """max(d(a, p) - d(a, n) + margin, 0) with d the p-norm pairwise distance."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    d_ap = _pdist(anchor, positive, p, eps)
    d_an = _pdist(anchor, negative, p, eps)
    if swap:
        d_pn = _pdist(positive, negative, p, eps)
        d_an = _E.minimum(d_an, d_pn)
    return _reduce((d_ap - d_an + margin).clamp(min=0), reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction='mean'):
    """triplet_margin_loss with any callable distance (default: pairwise_distance)."""
    from .misc import pairwise_distance
    if reduction not in ('mean', 'sum', 'none'):
        raise ValueError(f'{reduction} is not a valid value for reduction')
    if margin <= 0:
        raise ValueError(f'margin must be greater than 0, got {margin}')
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f'The anchor, positive, and negative tensors are expected to have the same number of '
                           f'dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative '
                           f'{negative.ndim}D inputs')
    dist = pairwise_distance if distance_function is None else distance_function
    d_ap = dist(anchor, positive)
    d_an = dist(anchor, negative)
    if swap:
        d_an = _E.minimum(d_an, dist(positive, negative))
    return _reduce((margin + d_ap - d_an).clamp(min=0), reduction)


def _margin_input(input, target, op):
    """(N, C) input and integer target checks shared by the multi-class margin losses; a 0-dim input is one class."""
    _check_tensor(input, 'input', op)
    _check_tensor(target, 'target', op)
    if input.ndim > 2 or (input.ndim and 0 in input.shape[input.ndim - 1:]) or (input.ndim == 2 and not input.shape[1]):
        raise RuntimeError(f'Expected non-empty vector or matrix with optional 0-dim batch size, but got: '
                           f'{list(input.shape)}')
    if target._data.dtype.name != 'int64':
        from ...ops._util import KERNEL_NAMES
        raise RuntimeError(f'expected scalar type Long but found {KERNEL_NAMES.get(target.dtype.name, target.dtype.name)}')
    return input.reshape(1, -1) if input.ndim < 2 else input


def _hinge(z):
    """max(0, z) with the gradient PyTorch's margin losses give: only where z > 0."""
    return z * _E.gt(z, 0).to(z.dtype)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction='mean'):
    """Multi-class hinge loss: sum over classes i != y of max(0, margin - x[y] + x[i])^p (times weight[y]), / C."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError('only p == 1 and p == 2 supported')
    x = _margin_input(input, target, 'multi_margin_loss')
    N, C = x.shape
    if target.ndim > 1 or target.numel() != N:
        raise RuntimeError(f'multi_margin_loss: target tensor should be 1-D with size equal to the number of input '
                           f'samples (batch size). Expected target size [{N}], but got {list(target.shape)}. Input has '
                           f'shape {list(input.shape)}.')
    if weight is not None and (weight.ndim > 1 or weight.numel() != C):
        raise RuntimeError(f'inconsistent weight size, expected {C} but got {list(weight.shape)}')
    if weight is not None and weight.requires_grad and _State.grad_enabled:
        raise RuntimeError("The function 'multi_margin_loss' is not differentiable with respect to argument 'weight'. "
                           "This input cannot have requires_grad True.")
    t = target.reshape(-1, 1)
    xp = x._device.xp
    if N and checks_values(x._device) and not ((t._data >= 0) & (t._data < C)).all():
        raise RuntimeError('target out of range')
    m = _hinge(margin - x.gather(1, t) + x)
    if p == 2:
        m = m * m
    if weight is not None:
        m = m * weight.reshape(-1)[t.reshape(-1)].reshape(-1, 1)
    from ..._tensor import _wrap
    others = _wrap(xp.arange(C)[None, :] != t._data, x._device)  # (the target's own class does not count)
    loss = (m * others.to(m.dtype)).sum(1).reshape(target.shape) / C  # (one sample: shaped as its target)
    return _renamed(_reduce(loss, reduction), 'MultiMarginLossBackward0', input)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction='mean'):
    """Multi-label hinge loss; each target row lists class indices up to the first -1: the sum over listed targets j
    and unlisted classes i of max(0, 1 - x[j] + x[i]), / C."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    x = _margin_input(input, target, 'multilabel_margin_loss')
    N, C = x.shape
    if tuple(target.shape) != (tuple(input.shape) if input.ndim else (1,)) and not (
            input.ndim == 0 and target.ndim == 0):
        raise RuntimeError(f'inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}')
    t = target.reshape(N, C)
    xp = x._device.xp
    td = t._data
    if N and checks_values(x._device) and not ((td >= -1) & (td < C)).all():
        raise RuntimeError("argument #2 'target' is out of range")
    listed = xp.cumprod(td >= 0, axis=1).astype(bool)  # the targets before the first -1
    is_target = xp.zeros((N, C), dtype=bool)
    rows = xp.broadcast_to(xp.arange(N)[:, None], (N, C))
    is_target[rows[listed], td[listed]] = True
    from ..._tensor import _wrap
    xt = x.gather(1, _wrap(xp.where(listed, td, 0), x._device))  # (N, C): x at each listed target
    pair = _wrap((listed[:, :, None] & ~is_target[:, None, :]).astype(x._data.dtype), x._device)
    loss = (_hinge(1 - xt.unsqueeze(2) + x.unsqueeze(1)) * pair).sum((1, 2)) / C
    if input.ndim < 2:
        loss = loss.reshape(())
    return _renamed(_reduce(loss, reduction), 'MultilabelMarginLossBackward0', input)
