"""ember.nn.functional: batch, layer, group, instance and RMS normalisation."""
from ..._tensor import Tensor
from ...ops import nn_ops as _nn
from ...ops._util import renamed as _renamed, norm_dim
from ...backends import fused

__all__ = ['batch_norm', 'layer_norm', 'group_norm', 'instance_norm', 'rms_norm', 'local_response_norm']


def _channel_view(t, ndim):
    """A per-channel (C,) tensor reshaped to broadcast against (N, C, *)."""
    if ndim <= 2:
        return t
    return t.reshape((1, t.shape[0]) + (1,) * (ndim - 2))


def _affine(y, weight, bias, ndim):
    if weight is not None:
        y = y * _channel_view(weight, ndim)
    if bias is not None:
        y = y + _channel_view(bias, ndim)
    return y


def _update_running(running, batch_stat, momentum):
    """running = (1 - momentum) * running + momentum * batch_stat, in place (no graph)."""
    r = running._data
    r *= (1.0 - momentum)
    r += (momentum * batch_stat).astype(r.dtype, copy=False)
    running._bump()


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) of (N, C, *) by batch statistics (training, which also updates the running
    ones: unbiased variance, exponential average with ``momentum``) or by the running statistics (eval)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"batch_norm(): argument 'input' must be Tensor, not {type(input).__name__}")
    C = input.shape[1] if input.ndim >= 2 else 0  # (PyTorch counts no channels in a 0-dim or 1-dim input)
    for name, t in (('running_mean', running_mean), ('running_var', running_var), ('weight', weight),
                    ('bias', bias)):
        if t is not None and t.numel() != C:
            raise RuntimeError(f'{name} should contain {C} elements not {t.numel()}')
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError('running_mean must be defined in evaluation mode')
    if not input.numel():  # nothing to normalise: the running statistics stay as they are
        return _affine(input.clone(), weight, bias, input.ndim)
    if input.ndim < 2:
        norm_dim(1, input.ndim)  # PyTorch's IndexError: a non-empty input needs a channel dim
    if training:
        n = input.numel() // C
        if n == 1:
            raise ValueError(f'Expected more than 1 value per channel when training, got input size {input.shape}')
    axes = (0,) + tuple(range(2, input.ndim))
    if training:
        xhat, m, v = _nn.normalize_core(input, axes, eps)
        if momentum is None:
            momentum = 0.0
        if running_mean is not None:
            _update_running(running_mean, m.reshape(-1), momentum)
        if running_var is not None:
            _update_running(running_var, v.reshape(-1) * (n / (n - 1)), momentum)
    else:
        shape = (1, C) + (1,) * (input.ndim - 2)
        xhat, _, _ = _nn.normalize_core(input, axes, eps, running_mean._data.reshape(shape),
                                        running_var._data.reshape(shape))
    return _renamed(_affine(xhat, weight, bias, input.ndim), 'NativeBatchNormBackward0', input)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims, then scale by weight and shift by bias."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != normalized_shape or input.ndim < k:
        ns = list(normalized_shape)
        raise RuntimeError(f'Given normalized_shape={ns}, expected input with shape [*, {", ".join(map(str, ns))}], '
                           f'but got input of size{list(input.shape)}')
    if _fusable_layer_norm(input, normalized_shape, weight, bias):
        one_node = _nn.layer_norm_fused if fused(input._device) else _nn.layer_norm_cpu
        return _renamed(one_node(input, k, weight, bias, eps), 'NativeLayerNormBackward0', input)
    axes = tuple(range(input.ndim - k, input.ndim))
    xhat, _, _ = _nn.normalize_core(input, axes, eps)
    if weight is not None:
        xhat = xhat * weight
    if bias is not None:
        xhat = xhat + bias
    return _renamed(xhat, 'NativeLayerNormBackward0', input)


def _fusable_layer_norm(x, shape, w, b):
    """Whether the one-node layer_norm (cuda kernels, or array formulas elsewhere) takes it: float32/float64,
    affine tensors of the normalized shape, dtype and device."""
    if x._data.dtype.name not in ('float32', 'float64'):
        return False
    for t in (w, b):
        if t is not None and (not isinstance(t, Tensor) or tuple(t.shape) != shape or t._data.dtype != x._data.dtype
                              or t._device is not x._device):
            return False
    return True


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise over groups of channels (and all spatial positions) per sample, then a per-channel affine."""
    if input.ndim < 2:
        raise RuntimeError(f'Expected at least 2 dimensions for input tensor but received {input.ndim}')
    N, C = input.shape[0], input.shape[1]
    if C % num_groups:
        raise RuntimeError(f'Expected number of channels in input to be divisible by num_groups, but got input of '
                           f'shape {list(input.shape)} and num_groups={num_groups}')
    if not input.numel():
        return _affine(input.clone(), weight, bias, input.ndim)
    per = C // num_groups  # (explicit, not -1: an empty batch has no size to infer from)
    for n in input.shape[2:]:
        per *= n
    grouped = input.reshape(N, num_groups, per)
    xhat, _, _ = _nn.normalize_core(grouped, (2,), eps)
    return _renamed(_affine(xhat.reshape(tuple(input.shape)), weight, bias, input.ndim), 'NativeGroupNormBackward0',
                    input)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) over its spatial positions."""
    if input.ndim < 3:
        raise ValueError(f'instance_norm: expected (N, C, *) with at least one spatial dim, got shape '
                         f'{tuple(input.shape)}')
    N, C = input.shape[0], input.shape[1]
    axes = tuple(range(2, input.ndim))
    if use_input_stats:
        xhat, m, v = _nn.normalize_core(input, axes, eps)
        n = 1
        for s in input.shape[2:]:
            n *= s
        if running_mean is not None:
            _update_running(running_mean, m.reshape(N, C).mean(axis=0), momentum)
        if running_var is not None:
            _update_running(running_var, (v.reshape(N, C) * (n / max(n - 1, 1))).mean(axis=0), momentum)
    else:
        shape = (1, C) + (1,) * (input.ndim - 2)
        xhat, _, _ = _nn.normalize_core(input, axes, eps, running_mean._data.reshape(shape),
                                        running_var._data.reshape(shape))
    return _renamed(_affine(xhat, weight, bias, input.ndim), 'ViewBackward0', input)  # PyTorch's: batch_norm, viewed


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """input / sqrt(mean(input^2 over the trailing dims) + eps) * weight (eps defaults to the dtype's epsilon)."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k:]) != tuple(normalized_shape):
        ns = list(normalized_shape)
        raise RuntimeError(f'Given normalized_shape={ns}, expected input with shape [*, {", ".join(map(str, ns))}], '
                           f'but got input of size{list(input.shape)}')
    if eps is None:
        import numpy as _np
        eps = float(_np.finfo(input._data.dtype).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        out = out * weight
    return out


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta."""
    if input.ndim < 3:
        raise ValueError(f'Expected 3D or higher dimensionality input (got {input.ndim} dimensions)')
    from ...ops.shape import cat
    sq = input * input
    C = input.shape[1]
    pad_before, pad_after = size // 2, (size - 1) // 2
    zeros_b = sq.narrow(1, 0, 1) * 0.0
    parts = [zeros_b] * pad_before + [sq] + [zeros_b] * pad_after
    padded = cat(parts, 1)
    acc = padded.narrow(1, 0, C)
    for i in range(1, size):
        acc = acc + padded.narrow(1, i, C)
    div = (acc * (alpha / size) + k) ** beta
    return input / div
