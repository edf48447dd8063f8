"""ember.nn.functional: activation functions (relu family, smooth activations, softmax family, gating)."""
import math
import warnings

from ..._tensor import Tensor
from ...ops import elementwise as _E, reduce as _R
from ...ops.nn_ops import pointwise, erf_array, erf as _erf
from ...ops.elementwise import masked_grad
from ...ops._util import record, renamed as _renamed
from ..._dtype import get_default_dtype
from ...backends import fused

__all__ = ['relu', 'relu_', 'relu6', 'leaky_relu', 'leaky_relu_', 'elu', 'elu_', 'selu', 'selu_', 'celu', 'celu_',
           'gelu', 'silu', 'mish', 'sigmoid', 'tanh', 'softmax', 'log_softmax', 'softmin', 'softplus', 'hardtanh',
           'hardtanh_', 'hardsigmoid', 'hardswish', 'logsigmoid', 'softsign', 'tanhshrink', 'softshrink',
           'hardshrink', 'threshold', 'threshold_', 'glu', 'prelu', 'rrelu', 'rrelu_']


def _check(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if x._data.dtype.kind != 'f':
        x = x.to(get_default_dtype())
    return x


def _inplace(x, fn, name):
    """Run ``fn`` (out of place) and write its result into x, as the ``inplace=True`` variants do."""
    from ...ops.inplace import inplace_unary
    return inplace_unary(x, fn, name)


def _piecewise_linear(x, data, factor, name):
    """An op whose derivative is a constant array ``factor`` (relu-like): backward is one multiply."""
    return record(data, x._device, (x,), name, (lambda g: masked_grad(g, factor),), holds=True)


def relu(input, inplace=False):
    """max(x, 0)."""
    if inplace:
        return input.relu_()
    return _E.relu(input)


def relu_(input):
    return input.relu_()


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clamped to [min_val, max_val] (gradient 1 strictly inside, 0 outside and on the edges)."""
    if min_val > max_val:
        raise ValueError('min_val cannot be greater than max_val')
    if inplace:
        return _inplace(input, lambda t: hardtanh(t, min_val, max_val), 'hardtanh_')
    x = _check(input, 'hardtanh')
    xd = x._data
    data = x._device.xp.clip(xd, min_val, max_val).astype(xd.dtype, copy=False)
    return _piecewise_linear(x, data, (xd > min_val) & (xd < max_val), 'HardtanhBackward0')


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, True)


def relu6(input, inplace=False):
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x > 0, negative_slope * x otherwise."""
    if inplace:
        return _inplace(input, lambda t: leaky_relu(t, negative_slope), 'leaky_relu_')
    x = _check(input, 'leaky_relu')
    xp, xd = x._device.xp, x._data
    pos = xd > 0
    data = xp.where(pos, xd, xd * negative_slope).astype(xd.dtype, copy=False)
    factor = xp.where(pos, 1.0, negative_slope).astype(xd.dtype)
    return _piecewise_linear(x, data, factor, 'LeakyReluBackward0')


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, True)


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else value."""
    if inplace:
        return _inplace(input, lambda t: globals()['threshold'](t, threshold, value), 'threshold_')
    x = _check(input, 'threshold')
    xp, xd = x._device.xp, x._data
    keep = xd > threshold
    data = xp.where(keep, xd, value).astype(xd.dtype, copy=False)
    return _piecewise_linear(x, data, keep, 'ThresholdBackward0')


def threshold_(input, threshold, value):
    return globals()['threshold'](input, threshold, value, True)


def _elu_core(x, alpha, scale, input_scale, name):
    xp, xd = x._device.xp, x._data
    pos = xd > 0
    data = xp.where(pos, xd * scale, (alpha * scale) * xp.expm1(xd * input_scale)).astype(xd.dtype, copy=False)

    def d_arr():
        return xp.where(pos, scale, (alpha * scale * input_scale) * xp.exp(xd * input_scale)).astype(xd.dtype)

    def d_t(t):
        return _E.where(t > 0, float(scale), (t * input_scale).exp() * (alpha * scale * input_scale))
    return pointwise(x, data, d_arr, d_t, name)


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    if inplace:
        return _inplace(input, lambda t: elu(t, alpha), 'elu_')
    return _elu_core(_check(input, 'elu'), alpha, 1.0, 1.0, 'EluBackward0')


def elu_(input, alpha=1.0):
    return elu(input, alpha, True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalising constants."""
    if inplace:
        return _inplace(input, selu, 'selu_')
    return _elu_core(_check(input, 'selu'), _SELU_ALPHA, _SELU_SCALE, 1.0, 'EluBackward0')


def selu_(input):
    return selu(input, True)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise RuntimeError('ZeroDivisionError: celu alpha must not be 0')
    if inplace:
        return _inplace(input, lambda t: celu(t, alpha), 'celu_')
    return _elu_core(_check(input, 'celu'), alpha, 1.0, 1.0 / alpha, 'CeluBackward0')


def celu_(input, alpha=1.0):
    return celu(input, alpha, True)


_SQRT_2_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu(input, approximate='none'):
    """x * Phi(x) (Phi the standard normal CDF); approximate='tanh' uses the tanh formula."""
    x = _check(input, 'gelu')
    xp, xd = x._device.xp, x._data
    dt = xd.dtype
    if approximate == 'none':
        def d_t(t):
            return (_erf(t * 0.7071067811865476) + 1.0) * 0.5 + t * (t * t * -0.5).exp() * _INV_SQRT_2PI
        if fused(x._device):
            return _gelu_fused(x, approximate, d_t)
        cdf = 0.5 * (1.0 + erf_array(xp, xd * 0.7071067811865476))
        data = (xd * cdf).astype(dt, copy=False)

        def d_arr():
            return (cdf + xd * _INV_SQRT_2PI * xp.exp(-0.5 * xd * xd)).astype(dt, copy=False)
        return pointwise(x, data, d_arr, d_t, 'GeluBackward0')
    if approximate == 'tanh':
        if fused(x._device):
            return _gelu_fused(x, approximate, _gelu_tanh_dt)
        inner = _SQRT_2_PI * (xd + 0.044715 * xd * xd * xd)
        th = xp.tanh(inner)
        data = (0.5 * xd * (1.0 + th)).astype(dt, copy=False)

        def d_arr():
            dinner = _SQRT_2_PI * (1.0 + 3 * 0.044715 * xd * xd)
            return (0.5 * (1.0 + th) + 0.5 * xd * (1.0 - th * th) * dinner).astype(dt, copy=False)

        return pointwise(x, data, d_arr, _gelu_tanh_dt, 'GeluBackward0')
    raise RuntimeError(f"approximate argument must be either none or tanh, got '{approximate}'")


def _gelu_tanh_dt(t):
    tt = ((t + t * t * t * 0.044715) * _SQRT_2_PI).tanh()
    return (tt + 1.0) * 0.5 + t * 0.5 * (1.0 - tt * tt) * ((t * t * (3 * 0.044715) + 1.0) * _SQRT_2_PI)


def _gelu_fused(x, approximate, d_t):
    """gelu on cuda: one kernel forward, one backward (the tensor-op derivative d_t under create_graph)."""
    from ...backends.cuda_kernels import gelu_forward, gelu_backward
    from ...autograd.grad_mode import _State
    from ...ops._util import _wrap
    xd = x._data

    def grad(g):
        if _State.grad_enabled:
            return g * d_t(x)
        return _wrap(gelu_backward(g._data.astype(xd.dtype, copy=False), xd, approximate), g._device)
    return record(gelu_forward(xd, approximate), x._device, (x,), 'GeluBackward0', (grad,), (x,))


def _sigmoid_array(xp, xd):
    e = xp.exp(-xp.abs(xd))
    return xp.where(xd >= 0, 1 / (1 + e), e / (1 + e)).astype(xd.dtype, copy=False)


def silu(input, inplace=False):
    """x * sigmoid(x)."""
    if inplace:
        return _inplace(input, silu, 'silu_')
    if isinstance(input, Tensor) and input.is_complex():  # (PyTorch's complex silu: z * sigmoid(z), no ordering)
        return _renamed(input * input.sigmoid(), 'SiluBackward0', input)
    x = _check(input, 'silu')
    xp, xd = x._device.xp, x._data
    s = _sigmoid_array(xp, xd)
    return pointwise(x, xd * s, lambda: s * (1 + xd * (1 - s)),
                     lambda t: t.sigmoid() * (1.0 + t * (1.0 - t.sigmoid())), 'SiluBackward0')


def _softplus_array(xp, xd):
    return xp.logaddexp(xd, 0).astype(xd.dtype, copy=False)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    if inplace:
        return _inplace(input, mish, 'mish_')
    x = _check(input, 'mish')
    xp, xd = x._device.xp, x._data
    tsp = xp.tanh(_softplus_array(xp, xd))

    def d_t(t):
        ts = softplus(t).tanh()
        return ts + t * t.sigmoid() * (1.0 - ts * ts)
    return pointwise(x, xd * tsp, lambda: tsp + xd * _sigmoid_array(xp, xd) * (1 - tsp * tsp), d_t,
                     'MishBackward0')


def sigmoid(input):
    return _E.sigmoid(input)


def tanh(input):
    return _E.tanh(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, reverting to x where beta * x > threshold."""
    x = _check(input, 'softplus')
    xp, xd = x._device.xp, x._data
    bx = xd * beta
    lin = bx > threshold
    data = xp.where(lin, xd, _softplus_array(xp, bx) / beta).astype(xd.dtype, copy=False)

    def d_arr():
        return xp.where(lin, 1.0, _sigmoid_array(xp, bx)).astype(xd.dtype, copy=False)

    def d_t(t):
        return _E.where(t * beta > threshold, 1.0, (t * beta).sigmoid())
    return pointwise(x, data, d_arr, d_t, 'SoftplusBackward0')


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), computed stably."""
    x = _check(input, 'logsigmoid')
    xp, xd = x._device.xp, x._data
    return pointwise(x, -_softplus_array(xp, -xd), lambda: _sigmoid_array(xp, -xd),
                     lambda t: (-t).sigmoid(), 'LogSigmoidBackward0')


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6 (gradient 1/6 strictly inside (-3, 3))."""
    if inplace:
        return _inplace(input, hardsigmoid, 'hardsigmoid_')
    x = _check(input, 'hardsigmoid')
    xp, xd = x._device.xp, x._data
    data = xp.clip(xd / 6.0 + 0.5, 0.0, 1.0).astype(xd.dtype, copy=False)
    # PyTorch's slope is 1/6 rounded to float32 whatever the dtype; the same constant gives the same numbers
    factor = (((xd > -3.0) & (xd < 3.0)) * float(xp.float32(1.0) / xp.float32(6.0))).astype(xd.dtype)
    return _piecewise_linear(x, data, factor, 'HardsigmoidBackward0')


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    if inplace:
        return _inplace(input, hardswish, 'hardswish_')
    x = _check(input, 'hardswish')
    xp, xd = x._device.xp, x._data
    data = (xd * xp.clip(xd + 3.0, 0.0, 6.0) / 6.0).astype(xd.dtype, copy=False)

    def d_arr():
        return xp.where(xd <= -3.0, 0.0, xp.where(xd < 3.0, xd / 3.0 + 0.5, 1.0)).astype(xd.dtype, copy=False)

    def d_t(t):
        mid = ((t > -3.0) & (t < 3.0))
        return _E.where(mid, t / 3.0 + 0.5, _E.where(t >= 3.0, 1.0, t * 0.0))
    return pointwise(x, data, d_arr, d_t, 'HardswishBackward0')


def softsign(input):
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


def tanhshrink(input):
    """x - tanh(x)."""
    return input - input.tanh()


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    x = _check(input, 'softshrink')
    xp, xd = x._device.xp, x._data
    data = xp.where(xd > lambd, xd - lambd, xp.where(xd < -lambd, xd + lambd, 0)).astype(xd.dtype, copy=False)
    return _piecewise_linear(x, data, (xd > lambd) | (xd < -lambd), 'SoftshrinkBackward0')


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    x = _check(input, 'hardshrink')
    xp, xd = x._device.xp, x._data
    keep = (xd > lambd) | (xd < -lambd)
    return _piecewise_linear(x, xp.where(keep, xd, 0).astype(xd.dtype, copy=False), keep, 'HardshrinkBackward0')


def _implicit_dim(name, ndim, stacklevel):
    warnings.warn(f'Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an '
                  f'argument.', stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along dim."""
    if dim is None:
        dim = _implicit_dim('softmax', input.ndim, _stacklevel)
    return _R.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """log(softmax(x)) along dim, computed stably."""
    if dim is None:
        dim = _implicit_dim('log_softmax', input.ndim, _stacklevel)
    return _R.log_softmax(input, dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along dim."""
    if dim is None:
        dim = _implicit_dim('softmin', input.ndim, _stacklevel)
    return _R.softmax(-input, dim, dtype=dtype)


def glu(input, dim=-1):
    """a * sigmoid(b) where a, b are the two halves of input along dim."""
    if input.ndim == 0:
        raise RuntimeError('glu does not support scalars because halving size must be even')
    if input.shape[dim] % 2:
        raise RuntimeError(f'Halving dimension must be even, but dimension {dim % input.ndim} is size '
                           f'{input.shape[dim]}')
    a, b = input.chunk(2, dim)
    return _renamed(a * b.sigmoid(), 'GluBackward0', input)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x); a weight of several elements runs along the channel dim (dim 1)."""
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu(): argument 'weight' (position 2) must be Tensor, not {type(weight).__name__}")
    if weight.ndim > 1:
        raise RuntimeError(f'prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}')
    if input._data.dtype.kind != 'f':
        from ...ops._util import not_implemented
        raise not_implemented('prelu_cpu', input._data.dtype)
    if weight._data.dtype != input._data.dtype:
        from ...ops._util import KERNEL_NAMES
        raise RuntimeError(f'prelu: Type promoting not supported. Got {KERNEL_NAMES[input.dtype.name]} and '
                           f'{KERNEL_NAMES[weight.dtype.name]}')
    n = weight.numel()
    if n == 1:
        w = weight.reshape(())
    else:
        if not input.ndim:
            raise RuntimeError('Not allow zero-dim input tensor.')
        ch = input.shape[1] if input.ndim >= 2 else 1
        if ch != n:
            raise RuntimeError(f'Mismatch of parameter numbers and input channel size. Found parameter numbers = '
                               f'{n} and channel size = {ch}.')
        w = weight.reshape([n if i == 1 else 1 for i in range(input.ndim)])
    return _renamed(_E.where(input > 0, input, input * w), 'PreluKernelBackward0', input)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky relu: slope ~ U(lower, upper) per element in training, (lower + upper) / 2 in eval."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    from ...backends.random import generator_for
    x = _check(input, 'rrelu')
    xp, xd = x._device.xp, x._data
    dt = xd.dtype
    neg = xd <= 0
    # as PyTorch: one float64 uniform per element <= 0 in order, slope = u * (upper - lower) + lower in double with
    # the bounds first rounded to the tensor's dtype, then rounded to it (measured)
    lo, hi = float(dt.type(lower)), float(dt.type(upper))
    u = generator_for(x._device).random(int(neg.sum()), dtype=xp.float64)
    factor = xp.ones(xd.shape, dtype=dt)
    factor[neg] = (u * (hi - lo) + lo).astype(dt)
    out = _piecewise_linear(x, xd * factor, factor, 'RreluWithNoiseBackward0')
    if inplace:
        from ...ops.inplace import assign_result, check_inplace_leaf
        check_inplace_leaf(input, 'rrelu_')
        return assign_result(input, out, 'rrelu_')
    return out


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, True)

