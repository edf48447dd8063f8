"""ember.nn.functional: dropout (elementwise and channel-wise), drawing masks from ember's generator."""
import warnings

from ..._tensor import Tensor
from ...backends.random import generator_for
from ...ops.elementwise import masked_grad
from ...ops._util import record

__all__ = ['dropout', 'dropout1d', 'dropout2d', 'dropout3d', 'alpha_dropout', 'feature_alpha_dropout']


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f'dropout probability has to be between 0 and 1, but got {p}')


def _memory_order(a):
    """The axes of a non-contiguous but dense array from slowest to fastest in memory; None when C-contiguous or
    not dense (PyTorch's empty_like then makes a contiguous tensor)."""
    if a.flags.c_contiguous or a.ndim < 2:
        return None
    span = sum((n - 1) * abs(st) for n, st in zip(a.shape, a.strides)) + a.itemsize
    if a.size == 0 or span != a.size * a.itemsize:
        return None
    return sorted(range(a.ndim), key=lambda i: (-abs(a.strides[i]), i))


def _keep(input, mask_shape, p):
    """The keep mask: on cpu PyTorch's ``bernoulli_(1 - p)`` (one float64 uniform per element, below 1 - p)."""
    gen = generator_for(input._device)
    if input._device.type == 'cpu':
        order = _memory_order(input._data) if tuple(mask_shape) == tuple(input.shape) else None
        if order is None:
            return gen.bernoulli(1.0 - p, mask_shape)
        # PyTorch's noise tensor copies a dense view's strides and is filled in memory order (e.g. the transposed
        # output of a batch_first MultiheadAttention): draw in that order, then lay the values out as the view
        keep = gen.bernoulli(1.0 - p, tuple(mask_shape[i] for i in order))
        return keep.transpose(tuple(sorted(range(len(order)), key=order.__getitem__)))
    # cuda draws float32 uniforms: half the random bits of float64, plenty for a keep/drop decision
    return gen.random(mask_shape, dtype='float32') >= p


def _scaled_mask(xp, keep, p, dt):
    """As PyTorch: the bernoulli_(1 - p) noise tensor (``keep``, bool) of dtype ``dt`` divided by 1 - p. In float32
    and float64 its values are 0 and 1 / (1 - p), so one multiply by that quotient gives the same numbers in one pass
    (no float copy of the mask, no division)."""
    if dt == xp.float32 or dt == xp.float64:
        return xp.multiply(keep, dt.type(1.0) / dt.type(1.0 - p), dtype=dt)
    mask = keep.astype(dt)
    mask /= dt.type(1.0 - p)
    return mask


def _apply_mask(input, mask_shape, p, inplace, name):
    xp = input._device.xp
    dt = input._data.dtype
    if p == 1.0:
        mask = xp.zeros(mask_shape, dtype=dt)
    else:
        mask = _scaled_mask(xp, _keep(input, mask_shape, p), p, dt)
    if mask.shape != input._data.shape:
        mask = xp.broadcast_to(mask, input._data.shape)
    out = record(input._data * mask, input._device, (input,), name, (lambda g: masked_grad(g, mask),), holds=True)
    if inplace:
        from ...ops.inplace import assign_result, check_inplace_leaf
        check_inplace_leaf(input, name.lower())
        return assign_result(input, out, name.lower())
    return out


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (identity when not training)."""
    _check_p(p)
    if not isinstance(input, Tensor):
        raise TypeError(f"dropout(): argument 'input' must be Tensor, not {type(input).__name__}")
    if not training or p == 0.0:
        return input
    return _apply_mask(input, tuple(input.shape), p, inplace, 'MulBackward0')


def _feature_dropout(input, p, training, inplace, spatial, name):
    _check_p(p)
    if not training or p == 0.0:
        return input
    nd = input.ndim
    if nd not in (spatial + 1, spatial + 2):
        raise RuntimeError(f'{name}: Expected {spatial + 1}D or {spatial + 2}D input, but received a {nd}D input '
                           f'of shape {tuple(input.shape)}')
    batched = nd == spatial + 2
    shape = tuple(input.shape[:2] if batched else input.shape[:1]) + (1,) * spatial
    return _apply_mask(input, shape, p, inplace, 'MulBackward0')


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of a (N, C, L) or (C, L) input with probability p."""
    return _feature_dropout(input, p, training, inplace, 1, 'dropout1d')


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of a (N, C, H, W) or (C, H, W) input with probability p."""
    _check_p(p)
    nd = input.ndim
    if nd not in (3, 4):
        warnings.warn(f'dropout2d: Received a {nd}-D input to dropout2d, which is deprecated and will result in an '
                      f'error in a future release. To retain the behavior and silence this warning, please use '
                      f'dropout instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 '
                      f'spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D '
                      f'inputs).', stacklevel=2)
        if not training or p == 0.0:
            return input
        shape = tuple(input.shape[:2]) + (1,) * max(nd - 2, 0)
        return _apply_mask(input, shape, p, inplace, 'MulBackward0')
    if nd == 3:
        warnings.warn('dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout '
                      'behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. '
                      'This behavior will change in a future release to interpret the input as one without a batch '
                      'dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please '
                      'switch to using dropout1d instead.', stacklevel=2)
        if not training or p == 0.0:
            return input
        return _apply_mask(input, tuple(input.shape[:2]) + (1,), p, inplace, 'MulBackward0')
    return _feature_dropout(input, p, training, inplace, 2, 'dropout2d')


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of a (N, C, D, H, W) or (C, D, H, W) input with probability p."""
    return _feature_dropout(input, p, training, inplace, 3, 'dropout3d')


_ALPHA = 1.6732632423543772848170429916717 * 1.0507009873554804934193349852946


def _alpha_dropout(input, p, training, mask_shape):
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    xp = input._device.xp
    dt = input._data.dtype.type
    noise = _keep(input, mask_shape, p).astype(dt)
    # PyTorch's arithmetic, step by step in the input's dtype: dropped units land on SELU's saturation value
    # -alpha, and a, b restore zero mean and unit variance
    alpha = _ALPHA
    a = 1.0 / ((alpha ** 2 * p + 1) * (1 - p)) ** 0.5
    add = (noise - dt(1)) * dt(alpha * a) + dt(alpha * a * p)
    noise *= dt(a)
    mult = xp.broadcast_to(noise, input._data.shape)
    data = input._data * mult + add
    return record(data.astype(dt, copy=False), input._device, (input,), 'AlphaDropoutBackward0',
                  (lambda g: masked_grad(g, mult),), holds=True)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps SELU's self-normalising mean and variance."""
    return _alpha_dropout(input, p, training, tuple(input.shape))


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """alpha_dropout over whole channels."""
    shape = tuple(input.shape[:2]) + (1,) * max(input.ndim - 2, 0)
    return _alpha_dropout(input, p, training, shape)
