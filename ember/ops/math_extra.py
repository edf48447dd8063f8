"""More elementwise math: inverse trig/hyperbolic, atan2/hypot/logaddexp/xlogy, fmax/fmin, bit shifts, predicates."""
import math
from collections import namedtuple

from .._dtype import float64 as _f64, int32 as _i32
from ._util import (Tensor, record, record_with_output, unbroadcast, coerce_pair, _wrap, broadcasting,
                    no_complex, as_tensor_like)
from .elementwise import (_floating, _zero_grad, _floor_div_data, _trunc_div, clamp, exp, log, sqrt, cos, sin,
                          where, sub)
from .complex import (real, conj, conj_physical, resolve_conj, resolve_neg, sgn, angle_complex,  # noqa: F401
                      isreal_complex)

_LN2 = math.log(2.0)


def rounded_div(a, b, rounding_mode):
    """div(a, b, rounding_mode='trunc' or 'floor')."""
    if rounding_mode not in ('trunc', 'floor'):
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                           f"'{rounding_mode}'")
    a, b = coerce_pair(a, b, 'div')
    ins = tuple(t for t in (a, b) if isinstance(t, Tensor))
    if not isinstance(a, Tensor):  # a Python number divided by a tensor: the number in the tensor's dtype
        a = as_tensor_like(a, b).to(b.dtype)
    q = _floor_div_data(a, b) if rounding_mode == 'floor' else _trunc_div(a, b)
    # rounding is piecewise constant: PyTorch's DivBackward2 gives zero gradients (floor_divide has none)
    return record(q, a._device, ins, 'DivBackward2', tuple(
        lambda g, s=t.shape: _wrap(g._device.xp.zeros(s, g._data.dtype), g._device) for t in ins))


def _mask(g, m):
    return g * _wrap(m.astype(g._data.dtype), g._device)


def _unary(a, name, data_fn, grad_fn, floating=True, use_out=False):
    """``grad_fn(g, a)`` (or ``grad_fn(g, a, out)`` with ``use_out``) is the input's gradient, as tensor ops."""
    if floating:
        a = _floating(a)
    data = data_fn(a._device.xp, a._data)
    if use_out:
        return record_with_output(data, a._device, (a,), name, lambda out: (lambda g: grad_fn(g, a, out()),), (a,))
    return record(data, a._device, (a,), name, (lambda g: grad_fn(g, a),), (a,))


# ---- unary --------------------------------------------------------------------------------------------------------
def asin(input):
    return _unary(input, 'AsinBackward0', lambda xp, x: xp.arcsin(x), lambda g, a: g / sqrt(1 - a * a))


def acos(input):
    return _unary(input, 'AcosBackward0', lambda xp, x: xp.arccos(x), lambda g, a: -g / sqrt(1 - a * a))


def asinh(input):
    return _unary(input, 'AsinhBackward0', lambda xp, x: xp.arcsinh(x), lambda g, a: g / sqrt(a * a + 1))


def acosh(input):
    return _unary(input, 'AcoshBackward0', lambda xp, x: xp.arccosh(x), lambda g, a: g / sqrt((a - 1) * (a + 1)))


def atanh(input):
    return _unary(input, 'AtanhBackward0', lambda xp, x: xp.arctanh(x), lambda g, a: g / (1 - a * a))


def sinh(input):
    return _unary(input, 'SinhBackward0', lambda xp, x: xp.sinh(x), lambda g, a: g * cosh(a))


def cosh(input):
    return _unary(input, 'CoshBackward0', lambda xp, x: xp.cosh(x), lambda g, a: g * sinh(a))


def exp2(input):
    return _unary(input, 'Exp2Backward0', lambda xp, x: xp.exp2(x), lambda g, a, out: g * out * _LN2, use_out=True)


def deg2rad(input):
    return _unary(input, 'Deg2RadBackward0', lambda xp, x: x * x.dtype.type(math.pi / 180),
                  lambda g, a: g * (math.pi / 180))


def rad2deg(input):
    return _unary(input, 'Rad2DegBackward0', lambda xp, x: x * x.dtype.type(180 / math.pi),
                  lambda g, a: g * (180 / math.pi))


def sinc(input):
    def data(xp, x):
        px = x * x.dtype.type(math.pi)
        with_zero = xp.where(x == 0, x.dtype.type(1), xp.sin(px) / xp.where(x == 0, x.dtype.type(1), px))
        return with_zero.astype(x.dtype, copy=False)

    def grad(g, a):
        px = a * math.pi
        safe = where(a == 0, 1.0, a)
        d = (cos(px) * px - sin(px)) / (safe * safe * math.pi)
        return g * where(a == 0, 0.0, d)
    return _unary(input, 'SincBackward0', data, grad)


def signbit(input):
    return _wrap(input._device.xp.signbit(input._data), input._device)


def positive(input):
    if input._data.dtype.kind == 'b':
        raise RuntimeError('The `+` operator, on a bool tensor is not supported.')
    return input


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    xp = input._device.xp
    x = input._data
    if x.dtype.kind != 'f':
        return _wrap(x.copy(), input._device)
    data = xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)
    return record(data, input._device, (input,), 'NanToNumBackward0', (lambda g: _mask(g, xp.isfinite(x)),),
                  holds=True)


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def logit(input, eps=None):
    a = _floating(input)
    xp = a._device.xp
    x = a._data if eps is None else xp.clip(a._data, eps, 1 - eps)
    data = xp.log(x / (1 - x))

    def grad(g):
        d = g / (a * (1 - a))
        if eps is None:
            return d
        return _mask(d, (a._data >= eps) & (a._data <= 1 - eps))
    return record(data, a._device, (a,), 'LogitBackward0', (grad,), (a,))


_frexp = namedtuple('frexp', ['mantissa', 'exponent'])


def frexp(input):
    xp = input._device.xp
    m, e = xp.frexp(input._data)
    scale = xp.ldexp(xp.ones((), m.dtype), -e)  # mantissa = input * 2**-exponent
    mant = record(m, input._device, (input,), 'FrexpBackward0', (lambda g: g * _wrap(scale, g._device),),
                  holds=True)
    return _frexp(mant, _wrap(e.astype(_i32.np), input._device))


def isposinf(input):
    return _wrap(input._device.xp.isposinf(input._data), input._device)


def isneginf(input):
    return _wrap(input._device.xp.isneginf(input._data), input._device)


def isreal(input):
    if input._data.dtype.kind == 'c':
        return isreal_complex(input)
    return _wrap(input._device.xp.ones(input._data.shape, bool), input._device)


def angle(input):
    if input._data.dtype.kind == 'c':
        return angle_complex(input)
    xp = input._device.xp
    a = _floating(input)
    x = a._data
    data = xp.where(x < 0, x.dtype.type(math.pi), x.dtype.type(0))
    data = xp.where(xp.isnan(x), x, data)
    return record(data, a._device, (a,), 'AngleBackward0', (_zero_grad,))


# ---- binary -------------------------------------------------------------------------------------------------------
def _pair(a, b, op, floating=True):
    """Both operands as tensors of PyTorch's promoted dtype (a float one when ``floating``)."""
    if not isinstance(a, Tensor):
        b, a = _pair(b, a, op, floating)
        return a, b
    a, b = coerce_pair(a, b, op)
    no_complex(a, op + '_cpu')  # (these binary ops have no complex kernels in PyTorch)
    if not isinstance(b, Tensor):
        b = _wrap(a._device.xp.asarray(b, dtype=a._data.dtype), a._device)
    if floating and a._data.dtype.kind != 'f':
        a, b = _floating(a), _floating(b)
    return a, b


def _binary(a, b, op, name, data_fn, grad_a, grad_b, floating=True):
    a, b = _pair(a, b, op, floating)
    sa, sb = a.shape, b.shape
    data = data_fn(a._device.xp, a._data, b._data)
    return record(data, a._device, (a, b), name, (lambda g: unbroadcast(grad_a(g, a, b), sa),
                                                   lambda g: unbroadcast(grad_b(g, a, b), sb)), (a, b))


@broadcasting
def atan2(input, other):
    return _binary(input, other, 'atan2', 'Atan2Backward0', lambda xp, x, y: xp.arctan2(x, y),
                   lambda g, a, b: g * b / (a * a + b * b), lambda g, a, b: -g * a / (a * a + b * b))


arctan2 = atan2


@broadcasting
def hypot(input, other):
    def grad(g, a, b, t):
        return g * t / sqrt(a * a + b * b)
    return _binary(input, other, 'hypot', 'HypotBackward0', lambda xp, x, y: xp.hypot(x, y),
                   lambda g, a, b: grad(g, a, b, a), lambda g, a, b: grad(g, a, b, b))


@broadcasting
def copysign(input, other):
    def grad_a(g, a, b):
        xp = a._device.xp
        flip = xp.signbit(a._data) != xp.signbit(xp.broadcast_to(b._data, xp.broadcast_shapes(a.shape, b.shape)))
        return g * _wrap(xp.where(a._data == 0, 0, xp.where(flip, -1, 1)).astype(g._data.dtype), g._device)
    return _binary(input, other, 'copysign', 'CopysignBackward0', lambda xp, x, y: xp.copysign(x, y), grad_a,
                   lambda g, a, b: g * 0)


@broadcasting
def logaddexp(input, other):
    return _binary(input, other, 'logaddexp', 'LogaddexpBackward0', lambda xp, x, y: xp.logaddexp(x, y),
                   lambda g, a, b: g / (1 + exp(b - a)), lambda g, a, b: g / (1 + exp(a - b)))


@broadcasting
def logaddexp2(input, other):
    return _binary(input, other, 'logaddexp2', 'Logaddexp2Backward0', lambda xp, x, y: xp.logaddexp2(x, y),
                   lambda g, a, b: g / (1 + 2 ** (b - a)), lambda g, a, b: g / (1 + 2 ** (a - b)))


@broadcasting
def xlogy(input, other):
    def data(xp, x, y):
        return xp.where((x == 0) & ~xp.isnan(y), x.dtype.type(0), x * xp.log(y)).astype(x.dtype, copy=False)

    def grad_a(g, a, b):
        xp = a._device.xp
        keep = ~((a._data == 0) & ~xp.isnan(b._data))
        return _mask(g * log(b), xp.broadcast_to(keep, xp.broadcast_shapes(a.shape, b.shape)))
    return _binary(input, other, 'xlogy', 'XlogyBackward0', data, grad_a, lambda g, a, b: g * a / b)


def _pick_grad(which):
    def grad(g, a, b):
        xp = a._device.xp
        x, y = a._data, b._data
        m = ((x >= y) | xp.isnan(y)) if which == 'a' else ((x < y) | xp.isnan(x) & ~xp.isnan(y))
        return _mask(g, xp.broadcast_to(m, xp.broadcast_shapes(x.shape, y.shape)))
    return grad


def _pick_grad_min(which):
    def grad(g, a, b):
        xp = a._device.xp
        x, y = a._data, b._data
        m = ((x <= y) | xp.isnan(y)) if which == 'a' else ((x > y) | xp.isnan(x) & ~xp.isnan(y))
        return _mask(g, xp.broadcast_to(m, xp.broadcast_shapes(x.shape, y.shape)))
    return grad


@broadcasting
def fmax(input, other):
    return _binary(input, other, 'fmax', 'FmaxBackward0', lambda xp, x, y: xp.fmax(x, y), _pick_grad('a'),
                   _pick_grad('b'), floating=False)


@broadcasting
def fmin(input, other):
    return _binary(input, other, 'fmin', 'FminBackward0', lambda xp, x, y: xp.fmin(x, y), _pick_grad_min('a'),
                   _pick_grad_min('b'), floating=False)


def float_power(input, exponent):
    a = input.to(_f64) if isinstance(input, Tensor) else float(input)
    b = exponent.to(_f64) if isinstance(exponent, Tensor) else float(exponent)
    return a ** b


@broadcasting
def ldexp(input, other):
    a = _floating(input)
    return a * (2.0 ** other.to(a.dtype) if isinstance(other, Tensor) else 2.0 ** other)


def _nograd_binary(ufunc, op, floating=False):
    @broadcasting
    def fn(input, other):
        a, b = _pair(input, other, op, floating)
        return _wrap(getattr(a._device.xp, ufunc)(a._data, b._data), a._device)
    fn.__name__ = fn.__qualname__ = op
    return fn


@broadcasting
def nextafter(input, other):
    return _binary(input, other, 'nextafter', 'NextafterBackward0', lambda xp, x, y: xp.nextafter(x, y),
                   lambda g, a, b: g, lambda g, a, b: g * 0, floating=False)


gcd = _nograd_binary('gcd', 'gcd')
lcm = _nograd_binary('lcm', 'lcm')
bitwise_left_shift = _nograd_binary('left_shift', 'bitwise_left_shift')
bitwise_right_shift = _nograd_binary('right_shift', 'bitwise_right_shift')


@broadcasting
def heaviside(input, values):
    if isinstance(values, Tensor) and values._data.dtype != input._data.dtype:
        raise RuntimeError(f'heaviside is not yet implemented for tensors with different dtypes: '
                           f'{input.dtype.name} and {values.dtype.name}')
    xp = input._device.xp
    x = input._data
    v = values._data if isinstance(values, Tensor) else values
    return _wrap(xp.where(x == 0, v, x > 0).astype(x.dtype), input._device)


def rsub(input, other, alpha=1):
    """other - alpha * input."""
    return sub(other, input, alpha=alpha) if isinstance(other, Tensor) else sub(
        input * (-alpha) if alpha != 1 else -input, -other)
