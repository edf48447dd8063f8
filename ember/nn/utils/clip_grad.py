"""Gradient clipping: clip_grad_norm_, clip_grad_value_, get_total_norm, clip_grads_with_norm_."""
import math
import warnings

from ..._tensor import Tensor, _wrap
from ...autograd.grad_mode import no_grad

__all__ = ['clip_grad_norm_', 'clip_grad_norm', 'clip_grad_value_', 'get_total_norm', 'clip_grads_with_norm_']


def _as_list(tensors):
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


def _norm_of(arr, xp, norm_type):
    a = xp.abs(arr)
    if norm_type == math.inf:
        return a.max() if a.size else xp.asarray(0, dtype=arr.dtype)
    if norm_type == -math.inf:
        return a.min() if a.size else xp.asarray(math.inf, dtype=arr.dtype)
    if norm_type == 0:
        return (a != 0).sum().astype(arr.dtype)
    if norm_type == 1:
        return a.sum()
    if norm_type == 2:
        return xp.sqrt((arr * arr).sum())
    return (a ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of ``tensors`` (as if they were concatenated into one vector)."""
    from ..._creation import tensor as make
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return make(0.0)
    first = tensors[0]
    xp = first._device.xp
    with no_grad():
        norms = xp.stack([xp.asarray(_norm_of(t._data, xp, norm_type), dtype=t._data.dtype) for t in tensors])
        total = _norm_of(norms, xp, norm_type)
    total = _wrap(xp.asarray(total, dtype=first._data.dtype), first._device)
    if error_if_nonfinite and not bool(xp.isfinite(total._data)):
        raise RuntimeError(f'The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it '
                           f'cannot be clipped. To disable this error and scale the gradients by the non-finite norm '
                           f'anyway, set `error_if_nonfinite=False`')
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6)) in place."""
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    dt = grads[0]._data.dtype
    tn = total_norm._data if isinstance(total_norm, Tensor) else total_norm
    if isinstance(total_norm, Tensor) and total_norm._device.type != 'cpu':
        # the norm lives on the device: clamp the coefficient there and scale every gradient by it, so nothing
        # is read on the host (what PyTorch does with clip_coef_clamped); a coefficient of 1 changes nothing
        xp = total_norm._device.xp
        coef = xp.minimum(dt.type(max_norm) / (tn.astype(dt) + dt.type(1e-6)), dt.type(1.0))
        with no_grad():
            for g in grads:
                g._data *= coef.astype(g._data.dtype)
                g._bump()
        return
    # computed in the gradients' dtype, as PyTorch's tensor arithmetic does
    coef = dt.type(max_norm) / (dt.type(tn) + dt.type(1e-6))
    if coef < 1.0 or math.isnan(coef):
        with no_grad():
            for g in grads:
                g._data *= coef.astype(g._data.dtype)
                g._bump()


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Rescale the gradients of ``parameters`` so their total ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm before clipping (a 0-d tensor)."""
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    if grads:
        clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    warnings.warn('`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.',
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                xp = p.grad._device.xp
                xp.clip(p.grad._data, -clip_value, clip_value, out=p.grad._data)
                p.grad._bump()
