"""Elementwise ops with broadcasting: arithmetic, unary math, activations and clamp (masks, where and comparisons in
logic.py, re-exported here)."""
import builtins

from .._dtype import get_default_dtype
from ._util import (Tensor, record, record_with_output, unbroadcast, coerce_pair, as_tensor_like, _wrap,
                    broadcasting, renamed, wrap_int, not_implemented, fit_scalar, no_complex, check_bool_sub, fit_alpha,
                    is_bool as _is_bool)
from ..backends import checks_values, fused
from ..autograd.grad_mode import _State
from .logic import (masked_grad, where, eq, ne, lt, le, gt, ge, logical_and, logical_or, logical_xor,  # noqa: F401
                    bitwise_and, bitwise_or, bitwise_xor, greater, less, greater_equal, less_equal, not_equal,
                    logical_not, bitwise_not, isnan, isinf, isfinite, isclose, allclose, equal)


def _floating(a):
    """Math on integer tensors computes in the default float dtype, as in PyTorch."""
    return a if a._data.dtype.kind in 'fVc' else a.to(get_default_dtype())  # 'V': bfloat16 (ml_dtypes)


def _zero_grad(g):
    return g * 0


def _no_bool(a, kernel):
    """PyTorch has no bool kernel for some math (abs, floor, ...): the same NotImplementedError, naming it."""
    if a._data.dtype.kind == 'b':
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')
    no_complex(a, kernel)


# ---- arithmetic ---------------------------------------------------------------------------------------------

@broadcasting
def add(a, b, alpha=1):
    if not isinstance(a, Tensor):  # add(number, tensor, alpha): number + alpha * tensor, in the promoted dtype
        b, a = coerce_pair(b, a, 'add')
        return add(_times_alpha(b, alpha) if alpha != 1 else b, a)
    a, b = coerce_pair(a, b, 'add')
    if alpha != 1:  # (a bool scalar stays a bool: alpha scales, it does not promote)
        if type(alpha) is builtins.int:  # (an int alpha must fit the dtype, as fill_'s value)
            alpha = fit_alpha(alpha, a._data.dtype)
        b = _times_alpha(b, alpha) if isinstance(b, Tensor) else builtins.bool(b and alpha) if isinstance(
            b, builtins.bool) and a._data.dtype.kind == 'b' else b * alpha
        if type(b) is builtins.int and a._data.dtype.kind in 'iu':  # (scaled, the scalar wraps again)
            b = wrap_int(b, a._data.dtype)
    if isinstance(b, Tensor):
        sa, sb = a.shape, b.shape
        return record(a._data + b._data, a._device, (a, b), 'AddBackward0',
                      (lambda g: unbroadcast(g, sa), lambda g: unbroadcast(g, sb)))
    return record(a._data + b, a._device, (a,), 'AddBackward0', (_identity,))


def _times_alpha(b, alpha):
    """alpha * b for add/sub's alpha: it scales, it does not promote (bool and integer tensors keep their dtype)."""
    if b._data.dtype.kind in 'biu':
        if isinstance(alpha, builtins.float):
            raise RuntimeError('For integral input tensors, argument alpha must not be a floating point number.')
        return (b * alpha).to(b.dtype)
    return b * alpha


def _identity(g):
    return g


@broadcasting
def sub(a, b, alpha=1):
    if _is_bool(a) or _is_bool(b):
        check_bool_sub(a, b)
    a, b = coerce_pair(a, b, 'sub')
    if alpha != 1:
        if type(alpha) is builtins.int:  # (PyTorch adds b times -alpha: that must fit the dtype)
            alpha = fit_alpha(alpha, a._data.dtype, True)
        b = b * alpha
        if type(b) is builtins.int and a._data.dtype.kind in 'iu':
            b = wrap_int(b, a._data.dtype)
    if isinstance(b, Tensor):
        sa, sb = a.shape, b.shape
        return record(a._data - b._data, a._device, (a, b), 'SubBackward0',
                      (lambda g: unbroadcast(g, sa), lambda g: unbroadcast(-g, sb)))
    return record(a._data - b, a._device, (a,), 'SubBackward0', (_identity,))


def rsub(a, b):
    """b - a for a scalar b."""
    if _is_bool(a) or _is_bool(b):
        check_bool_sub(b, a)
    a, b = coerce_pair(a, b, 'rsub')
    if isinstance(b, Tensor):
        return sub(b, a)
    return record(b - a._data, a._device, (a,), 'RsubBackward1', (neg,))


@broadcasting
def mul(a, b):
    a, b = coerce_pair(a, b, 'mul')
    if isinstance(b, Tensor):
        sa, sb = a._data.shape, b._data.shape
        return record(a._data * b._data, a._device, (a, b), 'MulBackward0',
                      (lambda g: unbroadcast(g * b, sa), lambda g: unbroadcast(g * a, sb)), (a, b))
    return record(a._data * b, a._device, (a,), 'MulBackward0', (lambda g: g * b,))


@broadcasting
def div(a, b, rounding_mode=None):
    if rounding_mode is not None:
        from .math_extra import rounded_div
        return rounded_div(a, b, rounding_mode)
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _floating(a)  # (first: an integer scalar is divided by exactly, not cast to an integer tensor's dtype)
    a, b = coerce_pair(a, b, 'div')
    a = _floating(a)
    if isinstance(b, Tensor):
        b = _floating(b)
        a, b = coerce_pair(a, b, 'div')
        sa, sb = a.shape, b.shape
        return record(a._data / b._data, a._device, (a, b), 'DivBackward0',
                      (lambda g: unbroadcast(g / b, sa), lambda g: unbroadcast(-g * a / (b * b), sb)), (a, b))
    return record(a._data / b, a._device, (a,), 'DivBackward0', (lambda g: g / b,))


def rdiv(a, b):
    """b / a for a scalar b."""
    a, b = coerce_pair(_floating(a) if not isinstance(b, Tensor) else a, b, 'div')
    if isinstance(b, Tensor):
        return div(b, a)
    a = _floating(a)
    return record_with_output(b / a._data, a._device, (a,), 'DivBackward1',
                              lambda out: (lambda g: -g * out() / a,), (a,))


def _trunc_div(a, b):
    """The array of a / b rounded toward zero (a, b already coerced)."""
    xp = a._device.xp
    if a._data.dtype.kind == 'b':
        raise not_implemented('div_trunc_cpu', a._data.dtype)
    bd = b._data if isinstance(b, Tensor) else b
    if a._data.dtype.kind == 'f':
        return xp.trunc(a._data / bd)
    _check_int_divisor(a, bd)
    q = xp.floor_divide(a._data, bd)
    fix = (q < 0) & (q * bd != a._data)
    return q + fix


def _check_int_divisor(a, bd):
    """Integer division by zero is an error in PyTorch's cpu ops (floats give inf/nan); on cuda it gives an
    unspecified value there too, and the test would be a host sync, so it runs only on cpu / EMBER_CUDA_CHECKS=1."""
    if a._data.dtype.kind in 'iub' and a._data.size and getattr(bd, 'size', 1) and (
            not bd if isinstance(bd, (builtins.int, builtins.float)) else
            checks_values(a._device) and not (bd != 0).all()):
        raise RuntimeError('ZeroDivisionError')


def _no_derivative(name, a, data, inputs):
    """A result PyTorch records but cannot differentiate: backward through it raises, as there."""
    def fail(g):
        raise RuntimeError(f'derivative for aten::{name} is not implemented')
    return record(data, a._device, inputs, 'NotImplemented', tuple(fail for _ in inputs))


@broadcasting
def floor_divide(a, b):
    a, b = coerce_pair(a, b, 'floor_divide')
    return _no_derivative('floor_divide', a, _floor_div_data(a, b), (a, b) if isinstance(b, Tensor) else (a,))


def _floor_div_data(a, b):
    """The array of a / b rounded down (a, b already coerced)."""
    if a._data.dtype.kind in 'bc' and (not isinstance(b, Tensor) or b._data.dtype.kind in 'bc'):
        raise not_implemented('div_floor_cpu', a._data.dtype)
    bd = b._data if isinstance(b, Tensor) else b
    _check_int_divisor(a, bd)
    return a._device.xp.floor_divide(a._data, bd)


def rfloordiv(a, b):
    a, b = coerce_pair(a, b, 'floor_divide')
    if a._data.dtype.kind == 'b' and isinstance(b, builtins.bool):
        raise not_implemented('div_floor_cpu', a._data.dtype)
    _check_int_divisor(a, a._data)
    return _no_derivative('floor_divide', a, a._device.xp.floor_divide(b, a._data), (a,))


@broadcasting
def remainder(a, b):
    a, b = coerce_pair(a, b, 'remainder')
    xp = a._device.xp
    if a._data.dtype.kind in 'bc':
        raise not_implemented('remainder_cpu', a._data.dtype)
    _check_int_divisor(a, b._data if isinstance(b, Tensor) else b)
    if isinstance(b, Tensor):
        sa, sb = a.shape, b.shape
        return record(xp.remainder(a._data, b._data), a._device, (a, b), 'RemainderBackward0',
                      (lambda g: unbroadcast(g, sa), lambda g: unbroadcast(-g * floor_divide(a, b), sb)), (a, b))
    return record(xp.remainder(a._data, b), a._device, (a,), 'RemainderBackward0', (_identity,))


def rremainder(a, b):
    a, b = coerce_pair(a, b, 'remainder')
    if a._data.dtype.kind in 'bc':
        raise not_implemented('remainder_cpu', a._data.dtype)
    _check_int_divisor(a, a._data)
    return _no_derivative('remainder', a, a._device.xp.remainder(b, a._data), (a,))


@broadcasting
def fmod(a, b):
    """C's remainder: the result has the sign of the dividend (``remainder`` takes the divisor's)."""
    a, b = coerce_pair(a, b, 'fmod')
    xp = a._device.xp
    if a._data.dtype.kind in 'bc':
        raise not_implemented('fmod_cpu', a._data.dtype)
    _check_int_divisor(a, b._data if isinstance(b, Tensor) else b)
    if isinstance(b, Tensor):
        sa, sb = a.shape, b.shape
        return record(xp.fmod(a._data, b._data), a._device, (a, b), 'FmodBackward1',
                      (lambda g: unbroadcast(g, sa),
                       lambda g: unbroadcast(-g * _wrap(_trunc_div(a, b), a._device), sb)), (a, b))
    return record(xp.fmod(a._data, b), a._device, (a,), 'FmodBackward0', (_identity,))


@broadcasting
def pow(a, b):
    if not isinstance(a, Tensor):
        return rpow(b, a)
    if isinstance(b, builtins.int) and b < 0 and a._data.dtype.kind in 'iub':
        raise RuntimeError('Integers to negative integer powers are not allowed.')
    if a._data.dtype.kind == 'b' and isinstance(b, builtins.bool):  # x ** True is x, x ** False is 1: still bool
        return _wrap(a._data.copy() if b else a._device.xp.ones(a._data.shape, bool), a._device)
    if isinstance(b, Tensor) and b._data.dtype.kind == 'b':
        if a._data.dtype.kind == 'b':
            raise NotImplementedError('"pow" not implemented for \'Bool\'')
        if a.requires_grad and _State.grad_enabled:
            return _pow_bool_exponent(*coerce_pair(a, b, 'pow'))  # (its gradient computes b - 1: refused for bools)
    if type(b) is builtins.int and a._data.dtype.kind in 'iu':
        fit_scalar(b, a._data.dtype)  # (an exponent is checked against the dtype, not wrapped)
    a, b = coerce_pair(a, b, 'pow')
    xp = a._device.xp
    if isinstance(b, Tensor):
        sa, sb = a.shape, b.shape
        data = xp.power(a._data, b._data) if a._data.dtype.kind not in 'iu' else _int_power(xp, a._data, b._data)
        return record_with_output(data, a._device, (a, b), 'PowBackward1', lambda out: (
            lambda g: unbroadcast(_pow_base_grad(g, a, b), sa),
            lambda g: unbroadcast(g * out() * _safe_log_base(a, b), sb)), (a, b))
    if b == 2:
        return record(a._data * a._data, a._device, (a,), 'PowBackward0', (lambda g: g * 2 * a,), (a,))
    if b == 0.5 and a._data.dtype.kind == 'f':  # PyTorch computes x ** 0.5 as sqrt (so -0.0 -> -inf gradient)
        return record_with_output(xp.sqrt(a._data), a._device, (a,), 'PowBackward0',
                                  lambda out: (lambda g: g / (2 * out()),))
    return record(xp.power(a._data, b), a._device, (a,), 'PowBackward0',
                  (lambda g: g * b * a ** (b - 1) if b != 0 else g * 0,), (a,))


def _pow_bool_exponent(a, b):
    def fail(g):
        check_bool_sub(a, True)
    return record(a._device.xp.power(a._data, b._data), a._device, (a,), 'PowBackward1', (fail,), holds=True)


def _int_power(xp, x, y):
    """Integer powers as PyTorch computes them: a negative exponent gives 1 for base 1, +-1 for base -1, else 0
    (NumPy refuses negative integer exponents)."""
    neg = y < 0
    if x.dtype.kind == 'u' or not neg.any():
        return xp.power(x, y)
    r = xp.power(x, xp.where(neg, 0, y).astype(y.dtype))
    inv = xp.where(x == 1, 1, xp.where(x == -1, 1 - 2 * (y % 2 != 0), 0))
    return xp.where(neg, inv, r).astype(r.dtype)


def _pow_base_grad(g, a, b):
    # b * a**(b-1); where b == 0 the result is constant 1, so the gradient is 0 even at a == 0 (not 0 * inf)
    gb = g * b * a ** (b - 1)
    zero = b._data == 0
    if g._device.type != 'cpu' or zero.any():  # (on cuda the test would be a host sync)
        gb = where(_wrap(gb._device.xp.broadcast_to(zero, gb.shape), gb._device), 0.0, gb)
    return gb


def _safe_log_base(a, b):
    # d(a**b)/db = a**b * log(a); where a == 0 the product is 0 for b >= 0, so log's -inf must not make a nan
    # (for b < 0, a**b is inf and PyTorch keeps inf * -inf)
    zero = a._data == 0
    if a._device.type == 'cpu' and not zero.any():  # (on cuda the test would be a host sync)
        return log(a)
    z = _wrap(zero & (b._data >= 0), a._device)  # (of the broadcast shape)
    return where(z, 0.0, log(where(z, 1.0, a)))


def rpow(a, b):
    """b ** a for a scalar b."""
    if isinstance(b, builtins.bool) and a._data.dtype.kind == 'b':
        raise NotImplementedError('"pow" not implemented for \'Bool\'')
    a, b = coerce_pair(a, b, 'pow')
    if isinstance(b, Tensor):
        return pow(b, a)
    xp = a._device.xp
    import math
    lb = math.log(b) if b > 0 else float('nan')
    dt = a._data.dtype
    if dt.kind in 'fc':
        data = xp.power(b, a._data)
    elif isinstance(b, builtins.float):
        data = xp.power(b, a._data.astype(get_default_dtype().np))
    else:  # integer powers in integer arithmetic (wrapping on overflow, as PyTorch's do)
        data = _int_power(xp, xp.asarray(wrap_int(b, dt), dtype=dt), a._data)
    if b == 0:  # d(0 ** x)/dx: 0 where x >= 0 (0 ** x is constant there), else out * log(0) = -inf, as PyTorch
        return record_with_output(data, a._device, (a,), 'PowBackward2', lambda out: (
            lambda g: where(a >= 0, 0.0, g * out() * -math.inf),), (a,))
    return record_with_output(data, a._device, (a,), 'PowBackward2', lambda out: (lambda g: g * out() * lb,))


def positive(a):
    if a._data.dtype.kind == 'b':
        raise RuntimeError('The `+` operator, on a bool tensor is not supported.')
    return a


def neg(a):
    if a._data.dtype.kind == 'b':
        raise RuntimeError('Negation, the `-` operator, on a bool tensor is not supported. If you are trying to '
                           'invert a mask, use the `~` or `logical_not()` operator instead.')
    return record(-a._data, a._device, (a,), 'NegBackward0', (neg,))


@broadcasting
def maximum(a, b):
    return _minmax(a, b, True)


@broadcasting
def minimum(a, b):
    return _minmax(a, b, False)


def _minmax(a, b, is_max):
    if not isinstance(b, Tensor):
        raise TypeError(f"{'maximum' if is_max else 'minimum'}(): argument 'other' (position 2) must be Tensor, not "
                        f"{type(b).__name__}")
    a, b = coerce_pair(a, b, 'maximum' if is_max else 'minimum')
    no_complex(a, 'maximum' if is_max else 'minimum')
    xp = a._device.xp
    data = xp.maximum(a._data, b._data) if is_max else xp.minimum(a._data, b._data)
    sa, sb = a.shape, b.shape

    def share(g, first):
        # the winner takes the gradient and ties split it evenly, as PyTorch does; so a NaN (no loser) gives
        # both operands the whole gradient
        lose = (a._data < b._data) if is_max == first else (a._data > b._data)
        w = (1 - lose - 0.5 * (a._data == b._data)).astype(g._data.dtype, copy=False)
        return unbroadcast(g * _wrap(w, a._device), sa if first else sb)
    return record(data, a._device, (a, b), 'MaximumBackward0' if is_max else 'MinimumBackward0',
                  (lambda g: share(g, True), lambda g: share(g, False)), (a, b))


# ---- unary math ---------------------------------------------------------------------------------------------

def exp(a):
    a = _floating(a)
    return record_with_output(a._device.xp.exp(a._data), a._device, (a,), 'ExpBackward0',
                              lambda out: (lambda g: g * out(),))


def expm1(a):
    a = _floating(a)
    return record_with_output(a._device.xp.expm1(a._data), a._device, (a,), 'Expm1Backward0',
                              lambda out: (lambda g: g * (out() + 1),))


def log(a):
    a = _floating(a)
    return record(a._device.xp.log(a._data), a._device, (a,), 'LogBackward0', (lambda g: g / a,), (a,))


def log2(a):
    a = _floating(a)
    return record(a._device.xp.log2(a._data), a._device, (a,), 'Log2Backward0',
                  (lambda g: g / (a * 0.6931471805599453),), (a,))


def log10(a):
    a = _floating(a)
    return record(a._device.xp.log10(a._data), a._device, (a,), 'Log10Backward0',
                  (lambda g: g / (a * 2.302585092994046),), (a,))


def log1p(a):
    a = _floating(a)
    return record(a._device.xp.log1p(a._data), a._device, (a,), 'Log1PBackward0', (lambda g: g / (a + 1),), (a,))


def sqrt(a):
    a = _floating(a)
    return record_with_output(a._device.xp.sqrt(a._data), a._device, (a,), 'SqrtBackward0',
                              lambda out: (lambda g: g / (2 * out()),))


def rsqrt(a):
    a = _floating(a)
    xp = a._device.xp
    return record_with_output(1 / xp.sqrt(a._data), a._device, (a,), 'RsqrtBackward0',
                              lambda out: (lambda g: g * -0.5 * out() ** 3,))


def reciprocal(a):
    a = _floating(a)
    return record_with_output(1 / a._data, a._device, (a,), 'ReciprocalBackward0',
                              lambda out: (lambda g: -g * out() * out(),))


def square(a):
    return pow(a, 2) if a._data.dtype.kind == 'b' else renamed(mul(a, a), 'PowBackward0', a)


def abs(a):
    if a._data.dtype.kind == 'c':  # a real result: the complex module's gradient
        from .complex import abs_complex
        return abs_complex(a)
    _no_bool(a, 'abs_cpu')
    return record(a._device.xp.abs(a._data), a._device, (a,), 'AbsBackward0', (lambda g: g * sign(a),), (a,))


def sin(a):
    a = _floating(a)
    return record(a._device.xp.sin(a._data), a._device, (a,), 'SinBackward0', (lambda g: g * cos(a),), (a,))


def cos(a):
    a = _floating(a)
    return record(a._device.xp.cos(a._data), a._device, (a,), 'CosBackward0', (lambda g: -g * sin(a),), (a,))


def tan(a):
    a = _floating(a)
    return record_with_output(a._device.xp.tan(a._data), a._device, (a,), 'TanBackward0',
                              lambda out: (lambda g: g * (1 + out() * out()),))


def tanh(a):
    a = _floating(a)
    return record_with_output(a._device.xp.tanh(a._data), a._device, (a,), 'TanhBackward0',
                              lambda out: (lambda g: g * (1 - out() * out()),))


def sigmoid(a):
    a = _floating(a)
    xp = a._device.xp
    x = a._data
    # two-sided form: no overflow warning for large negative x
    e = xp.exp(-xp.abs(x)) if x.dtype.kind != 'c' else xp.exp(-x)  # (complex: no ordering, the plain form)
    data = (xp.where(x >= 0, 1 / (1 + e), e / (1 + e)) if x.dtype.kind != 'c' else 1 / (1 + e)).astype(x.dtype)
    return record_with_output(data, a._device, (a,), 'SigmoidBackward0',
                              lambda out: (lambda g: g * out() * (1 - out()),))


def atan(a):
    a = _floating(a)
    return record(a._device.xp.arctan(a._data), a._device, (a,), 'AtanBackward0', (lambda g: g / (1 + a * a),), (a,))


def sign(a):
    no_complex(a, 'sign')
    if a._data.dtype.kind == 'b':
        return _wrap(a._data.copy(), a._device)
    data = a._device.xp.sign(a._data)
    if data.dtype.kind == 'f':  # PyTorch's sign of NaN is 0
        data = a._device.xp.nan_to_num(a._device.xp.asarray(data), copy=False, nan=0.0)
    return record(data, a._device, (a,), 'SignBackward0', (_zero_grad,))


def floor(a):
    _no_bool(a, 'floor_vml_cpu')
    if a._data.dtype.kind in 'iu':
        return _wrap(a._data.copy(), a._device)
    return record(a._device.xp.floor(a._data), a._device, (a,), 'FloorBackward0', (_zero_grad,))


def ceil(a):
    _no_bool(a, 'ceil_vml_cpu')
    if a._data.dtype.kind in 'iu':
        return _wrap(a._data.copy(), a._device)
    return record(a._device.xp.ceil(a._data), a._device, (a,), 'CeilBackward0', (_zero_grad,))


def trunc(a):
    _no_bool(a, 'trunc_vml_cpu')
    if a._data.dtype.kind in 'iu':
        return _wrap(a._data.copy(), a._device)
    return record(a._device.xp.trunc(a._data), a._device, (a,), 'TruncBackward0', (_zero_grad,))


def round(a, decimals=0):
    _no_bool(a, 'round_vml_cpu')
    if a._data.dtype.kind in 'iu' and not decimals:
        return _wrap(a._data.copy(), a._device)
    return record(a._device.xp.round(a._data, decimals), a._device, (a,), 'RoundBackward0', (_zero_grad,))


def frac(a):
    if a._data.dtype.kind != 'f':
        raise not_implemented('frac_cpu', a._data.dtype)
    return a - trunc(a)


# ---- activations and clamping (backward is a multiply by a mask: far cheaper than masked assignment) ---------

def relu(a):
    if a._data.dtype.kind == 'b':
        raise RuntimeError('Boolean inputs not supported for relu')
    no_complex(a, 'clamp')
    data = a._device.xp.maximum(a._data, 0)
    if fused(a._device):
        return record(data, a._device, (a,), 'ReluBackward0', (lambda g: _relu_grad_fused(g, data),), holds=True)
    # the gradient passes where the output is not 0: positive inputs and NaNs, as in PyTorch
    return record(data, a._device, (a,), 'ReluBackward0', (lambda g: masked_grad(g, data != 0),), holds=True)


def _relu_grad_fused(g, data):
    """relu's backward on cuda: one kernel (g where the output is positive) instead of a mask and a multiply."""
    if g._data.dtype != data.dtype:
        return masked_grad(g, data != 0)
    from ..backends.cuda_kernels import relu_backward
    return record(relu_backward(g._data, data), g._device, (g,), 'ThresholdBackwardBackward0',
                  (lambda gg: masked_grad(gg, data != 0),), holds=True)


def clamp(a, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    no_complex(a, 'clamp')
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_tensors(a, min, max)
    xp = a._device.xp
    for bound in (min, max):  # the result takes PyTorch's promotion of the tensor with the scalar bounds
        if bound is not None:
            if a._data.dtype.kind == 'b' and isinstance(bound, builtins.bool):
                raise NotImplementedError('"clamp_scalar_cpu" not implemented for \'Bool\'')
            a = coerce_pair(a, bound, 'clamp')[0]
    if a._data.dtype.kind in 'iu':
        min = None if min is None else fit_scalar(min, a._data.dtype)
        max = None if max is None else fit_scalar(max, a._data.dtype)
    x = a._data
    data = xp.clip(x, min, max)
    if data.dtype != x.dtype:
        data = data.astype(x.dtype)

    def grad(g):
        if min is not None and max is not None:
            mask = (x >= min) & (x <= max)
        elif min is not None:
            mask = x >= min
        else:
            mask = x <= max
        return masked_grad(g, mask)
    return record(data, a._device, (a,), 'ClampBackward1', (grad,), (a,))


clip = clamp


@broadcasting
def _clamp_tensors(a, lo, hi):
    """clamp with tensor bounds: min(max(a, lo), hi). The input's gradient flows where lo <= a <= hi; a bound's
    where it is the result (when lo > hi, hi wins), as in PyTorch."""
    if lo is not None:
        a, lo = coerce_pair(a, as_tensor_like(lo, a), 'clamp')
    if hi is not None:
        a, hi = coerce_pair(a, as_tensor_like(hi, a), 'clamp')
        if lo is not None and lo._data.dtype != a._data.dtype:
            lo = lo.to(a.dtype)
    xp = a._device.xp
    x = a._data
    data = x if lo is None else xp.maximum(x, lo._data)
    data = data if hi is None else xp.minimum(data, hi._data)
    inside = (x >= lo._data) if lo is not None else True
    ins, masks = [a], [inside & (x <= hi._data) if hi is not None else inside]
    if lo is not None:
        ins.append(lo)
        masks.append((x < lo._data) & (lo._data < hi._data) if hi is not None else x < lo._data)
    if hi is not None:
        ins.append(hi)
        masks.append((x > hi._data) | (hi._data < lo._data) if lo is not None else x > hi._data)

    def fn(t, mask):
        st = t.shape
        return lambda g: unbroadcast(g * _wrap(mask.astype(g._data.dtype), g._device), st)
    return record(data, a._device, tuple(ins), 'ClampBackward0', tuple(fn(t, m) for t, m in zip(ins, masks)),
                  holds=True)
