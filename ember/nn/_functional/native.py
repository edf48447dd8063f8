"""torch.native_layer_norm, native_group_norm, native_batch_norm and native_dropout_backward: the normalisations
returning their saved statistics as PyTorch's tuples (top-level ember functions; not in nn.functional)."""
from ..._tensor import Tensor, _wrap
from ...autograd.grad_mode import no_grad
from ...ops import nn_ops as _nn
from ...ops._util import renamed as _renamed
from .normalization import layer_norm, group_norm, _affine, _update_running

__all__ = ['native_layer_norm', 'native_group_norm', 'native_batch_norm', 'native_dropout_backward']


def _check(t, fn, name='input'):
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position 1) must be Tensor, not {type(t).__name__}")


def _rstd(xd, axes, eps, xp):
    m = xd.mean(axis=axes, keepdims=True)
    c = xd - m
    return m, 1.0 / xp.sqrt((c * c).mean(axis=axes, keepdims=True) + eps)


def native_layer_norm(input, normalized_shape, weight, bias, eps):
    """(layer_norm(...), mean, rstd): the statistics have the input's leading dims and ones for the normalised ones
    (PyTorch does not differentiate them)."""
    _check(input, 'native_layer_norm')
    out = layer_norm(input, normalized_shape, weight, bias, eps)
    k = 1 if isinstance(normalized_shape, int) else len(tuple(normalized_shape))
    xp = input._device.xp
    xd = input._data
    axes = tuple(range(input.ndim - k, input.ndim))
    if xd.size == 0:
        shape = tuple(input.shape[:input.ndim - k]) + (1,) * k
        m = r = xp.zeros(shape, xd.dtype)
    else:
        m, r = _rstd(xd, axes, eps, xp)
    return out, _wrap(m.astype(xd.dtype, copy=False), input._device), _wrap(r.astype(xd.dtype, copy=False),
                                                                              input._device)


def native_group_norm(input, weight, bias, N, C, HxW, group, eps):
    """(group_norm(...), mean, rstd) with the statistics of shape (N, group), differentiable as in PyTorch."""
    _check(input, 'native_group_norm')
    if input.numel() != N * C * HxW:
        raise RuntimeError('Expected X.numel() == N * C * HxW to be true, but got false.  (Could this error message '
                           'be improved?  If so, please report an enhancement request to PyTorch.)')
    out = group_norm(input, group, weight, bias, eps)
    grouped = input.reshape(N, group, -1)
    mean = grouped.mean(-1) if grouped.shape[-1] else grouped.sum(-1)   # empty groups: mean 0 (rstd nan)
    rstd = (grouped.var(-1, unbiased=False) + eps).rsqrt()
    return out, _renamed(mean, 'NativeGroupNormBackward0', input), _renamed(rstd, 'NativeGroupNormBackward0', input)


def native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps):
    """(batch_norm(...), save_mean, save_invstd): the batch statistics per channel when training (running ones
    updated in place), empty tensors in evaluation."""
    _check(input, 'native_batch_norm')
    if input.ndim < 2:
        raise RuntimeError(f'native_batch_norm: expected an input of at least 2 dims (N, C, *), got '
                           f'{list(input.shape)}')
    if input.numel() == 0:
        raise RuntimeError(f'input tensor must have at least one element, but got input_sizes = {list(input.shape)}')
    C = input.shape[1]
    xp = input._device.xp
    dt = input._data.dtype
    axes = (0,) + tuple(range(2, input.ndim))
    shape = (1, C) + (1,) * (input.ndim - 2)
    if training:
        n = input.numel() // C if C else 0
        xhat, m, v = _nn.normalize_core(input, axes, eps)
        if running_mean is not None:
            _update_running(running_mean, m.reshape(-1), momentum)
        if running_var is not None and n > 1:
            _update_running(running_var, v.reshape(-1) * (n / (n - 1)), momentum)
        save_mean = m.reshape(-1).astype(dt, copy=False)
        save_invstd = (1.0 / xp.sqrt(v.reshape(-1) + eps)).astype(dt, copy=False)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError('native_batch_norm: running_mean and running_var must be defined in evaluation mode')
        xhat, _, _ = _nn.normalize_core(input, axes, eps, running_mean._data.reshape(shape),
                                        running_var._data.reshape(shape))
        save_mean = save_invstd = xp.zeros((0,), dt)
    out = _renamed(_affine(xhat, weight, bias, input.ndim), 'NativeBatchNormBackward0', input)
    return out, _wrap(save_mean, input._device), _wrap(save_invstd, input._device)


def native_dropout_backward(grad_output, mask, scale):
    """grad_output * mask * scale: dropout's backward given its kept-element mask (differentiable in grad_output)."""
    _check(grad_output, 'native_dropout_backward', 'grad_output')
    _check(mask, 'native_dropout_backward', 'mask')
    with no_grad():
        factor = mask.to(grad_output.dtype) * scale
    return _renamed(grad_output * factor, 'NativeDropoutBackwardBackward0', grad_output)
