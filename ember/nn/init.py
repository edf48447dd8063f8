"""ember.nn.init: in-place weight initialisers as in torch.nn.init, drawing from ember's generators under no_grad."""
import math
import warnings

from .._tensor import Tensor
from ..backends.random import generator_for

__all__ = ['calculate_gain', 'uniform_', 'normal_', 'trunc_normal_', 'constant_', 'ones_', 'zeros_', 'eye_',
           'dirac_', 'xavier_uniform_', 'xavier_normal_', 'kaiming_uniform_', 'kaiming_normal_', 'orthogonal_',
           'sparse_', 'uniform', 'normal', 'constant', 'eye', 'dirac', 'xavier_uniform', 'xavier_normal',
           'kaiming_uniform', 'kaiming_normal', 'orthogonal', 'sparse']


def _gen_dtype(t):
    import numpy as np
    return t._data.dtype if t._data.dtype in (np.float32, np.float64) else np.float32


def _write(tensor, arr):
    """Store ``arr`` into ``tensor``'s memory (no graph: initialisers run as under no_grad) and bump its version."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f'init functions expect a Tensor, got {type(tensor).__name__}')
    tensor._data[...] = arr
    tensor._bump()
    return tensor


def _gen(tensor, generator):
    return generator_for(tensor._device, generator)


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (used to scale xavier/kaiming/orthogonal initialisations)."""
    linear = ('linear', 'conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d', 'conv_transpose3d')
    if nonlinearity in linear or nonlinearity == 'sigmoid':
        return 1
    if nonlinearity == 'tanh':
        return 5.0 / 3
    if nonlinearity == 'relu':
        return math.sqrt(2.0)
    if nonlinearity == 'leaky_relu':
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f'negative_slope {param} not a valid number')
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == 'selu':
        return 3.0 / 4
    raise ValueError(f'Unsupported nonlinearity {nonlinearity}')


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight: dims 1 and 0 times the receptive field (the product of dims 2...)."""
    if tensor.dim() < 2:
        raise ValueError('Fan in and fan out can not be computed for tensor with fewer than 2 dimensions')
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ('fan_in', 'fan_out'):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == 'fan_in' else fan_out


def _fill(tensor, generator, name, *args):
    """The draws of ``tensor.<name>(*args)`` (PyTorch's, on cpu), written without recording a graph."""
    from .._sampling import random_fill
    if not isinstance(tensor, Tensor):
        raise TypeError(f'init functions expect a Tensor, got {type(tensor).__name__}')
    return _write(tensor, random_fill(tensor, _gen(tensor, generator), name, args, {}))


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b)."""
    return _fill(tensor, generator, 'uniform_', a, b)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std**2)."""
    return _fill(tensor, generator, 'normal_', mean, std)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std**2) truncated to [a, b], drawn as PyTorch does: normal_(mean, std) over the whole
    tensor, then, while some values lie outside [a, b], another whole-tensor draw whose values at those positions
    replace them where they fall inside."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn('mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values may '
                      'be incorrect.', stacklevel=2)
    g = _gen(tensor, generator)
    shape, dt = tuple(tensor.shape), _gen_dtype(tensor)
    xp = tensor._device.xp
    if _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std) < 0.3:
        return _write(tensor, _trunc_normal_narrow(g, shape, dt, xp, mean, std, a, b))
    out = g.normal(mean, std, shape, dtype=dt)
    lo, hi = out.dtype.type(a), out.dtype.type(b)
    todo = (out < lo) | (out > hi)
    for _ in range(10000):  # each round keeps a fixed share of the rest; this many rounds is never reached
        if not todo.any():
            break
        new = g.normal(mean, std, shape, dtype=dt)
        take = todo & (new >= lo) & (new <= hi)
        out[take] = new[take]
        todo &= ~take
    return _write(tensor, xp.clip(out, lo, hi))


def _trunc_normal_narrow(g, shape, dt, xp, mean, std, a, b):
    """When under 30% of the normal lies in [a, b], PyTorch samples by rejection from uniform proposals: each
    round a whole tensor of uniform_(a, b) proposals and one of uniform_(0, 1) acceptance draws; a proposal x is
    accepted where the draw is below the normal's density at x relative to its largest value on [a, b]."""
    peak = min(max(mean, a), b)
    out = xp.zeros(shape, dtype=dt)
    todo = xp.ones(shape, dtype=bool)
    for _ in range(100000):
        if not todo.any():
            break
        x = g.uniform(a, b, shape, dtype=dt)
        u = g.random(shape, dtype=dt)
        rel = xp.exp(0.5 * ((peak - mean) / std) ** 2 - 0.5 * ((x.astype('float64') - mean) / std) ** 2)
        take = todo & (u < rel)
        out[take] = x[take]
        todo &= ~take
    return out


def _norm_cdf(x):
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def constant_(tensor, val):
    """Fill with ``val``."""
    return _write(tensor, val)


def ones_(tensor):
    return _write(tensor, 1)


def zeros_(tensor):
    return _write(tensor, 0)


def eye_(tensor):
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal, zeros elsewhere)."""
    if tensor.ndim != 2:
        raise ValueError('Only tensors with 2 dimensions are supported')
    return _write(tensor, tensor._device.xp.eye(*tensor.shape, dtype=tensor._data.dtype))


def dirac_(tensor, groups=1):
    """Fill a {3,4,5}-D conv weight with the Dirac delta, preserving the identity of the inputs (per group)."""
    d = tensor.ndim
    if d not in (3, 4, 5):
        raise ValueError('Only tensors with 3, 4, or 5 dimensions are supported')
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError('dim 0 must be divisible by groups')
    out_per = sizes[0] // groups
    min_dim = min(out_per, sizes[1])
    xp = tensor._device.xp
    arr = xp.zeros(sizes, dtype=tensor._data.dtype)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for k in range(min_dim):
            arr[(g * out_per + k, k) + centre] = 1
    return _write(tensor, arr)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a=0, mode='fan_in', nonlinearity='leaky_relu', generator=None):
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan) with gain = calculate_gain(nonlinearity, a)."""
    if 0 in tensor.shape:
        warnings.warn('Initializing zero-element tensors is a no-op', stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode='fan_in', nonlinearity='leaky_relu', generator=None):
    """He normal: N(0, std**2), std = gain / sqrt(fan)."""
    if 0 in tensor.shape:
        warnings.warn('Initializing zero-element tensors is a no-op', stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix (trailing dims flattened), from the QR decomposition of a Gaussian matrix."""
    if tensor.ndim < 2:
        raise ValueError('Only tensors with 2 or more dimensions are supported')
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    xp = tensor._device.xp
    # PyTorch's draw: normal_(0, 1) on a (rows, cols) tensor of the weight's dtype
    flat = _gen(tensor, generator).normal(0.0, 1.0, (rows, cols), dtype=_gen_dtype(tensor))
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    d = xp.sign(xp.diagonal(r))
    d[d == 0] = 1
    q = q * d
    if rows < cols:
        q = q.T
    return _write(tensor, (q * gain).reshape(tensor.shape))


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """A 2-D tensor with N(0, std**2) entries and a fraction ``sparsity`` of each column set to zero."""
    if tensor.ndim != 2:
        raise ValueError('Only tensors with 2 dimensions are supported')
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    g = _gen(tensor, generator)
    arr = g.normal(0.0, std, (rows, cols), dtype=_gen_dtype(tensor))  # normal_(0, std), then a randperm a column
    for c in range(cols):
        arr[g.permutation(rows)[:num_zeros], c] = 0
    return _write(tensor, arr)


def _deprecated(fn):
    new = fn.__name__

    def old(*args, **kwargs):
        warnings.warn(f'`nn.init.{new[:-1]}` is now deprecated in favor of `nn.init.{new}`.', FutureWarning,
                      stacklevel=2)
        return fn(*args, **kwargs)
    old.__name__ = new[:-1]
    old.__doc__ = f'Deprecated alias of {new}.'
    return old


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
