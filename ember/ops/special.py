"""Special functions (erf family, gamma family, Bessel i0/i1) on scipy.special (cpu) or cupyx.scipy.special (cuda)."""
import math

from ._util import Tensor, record, record_with_output, unbroadcast, _wrap, broadcasting
from .elementwise import _floating, exp
from .math_extra import _pair


def _sp(device):
    """The special-function module for ``device``: SciPy's on cpu, CuPy's on cuda."""
    try:
        if device.type == 'cuda':
            import cupyx.scipy.special as sp
        else:
            import scipy.special as sp
    except ImportError:
        raise ImportError("ember's special functions need SciPy: pip install scipy (it comes with the "
                          "'ember[train]', 'ember[test]' and 'ember[all]' extras)") from None
    return sp


def _cast(data, like):
    return data.astype(like.dtype, copy=False)


def _unary(a, name, fn, grad, use_out=False):
    a = _floating(a)
    sp = _sp(a._device)
    data = _cast(getattr(sp, fn)(a._data), a._data)
    if use_out:
        return record_with_output(data, a._device, (a,), name, lambda out: (lambda g: grad(g, a, out()),), (a,))
    return record(data, a._device, (a,), name, (lambda g: grad(g, a),), (a,))


_2_SQRT_PI = 2 / math.sqrt(math.pi)


def erf(input):
    return _unary(input, 'ErfBackward0', 'erf', lambda g, a: g * _2_SQRT_PI * exp(-a * a))


def erfc(input):
    return _unary(input, 'ErfcBackward0', 'erfc', lambda g, a: -g * _2_SQRT_PI * exp(-a * a))


def erfinv(input):
    return _unary(input, 'ErfinvBackward0', 'erfinv', lambda g, a, out: g * (math.sqrt(math.pi) / 2) * exp(out * out),
                  use_out=True)


def erfcx(input):
    return _unary(input, 'SpecialErfcxBackward0', 'erfcx',
                  lambda g, a, out: g * (2 * a * out - _2_SQRT_PI), use_out=True)


def lgamma(input):
    return _unary(input, 'LgammaBackward0', 'gammaln', lambda g, a: g * digamma(a))


def digamma(input):
    a = _floating(input)
    sp = _sp(a._device)
    # PyTorch: digamma(0) is -inf (SciPy gives nan at the pole); negative integers stay nan
    x = a._data
    data = _cast(a._device.xp.where(x == 0, -a._device.xp.inf, sp.psi(x)), x)
    return record(data, a._device, (a,), 'DigammaBackward0', (lambda g: g * polygamma(1, a),), (a,))


def polygamma(n, input):
    if not isinstance(n, int) or n < 0:
        raise RuntimeError(f'polygamma(n, x) does not support negative n (got {n})')
    if n == 0:
        return digamma(input)
    a = _floating(input)
    data = _cast(_sp(a._device).polygamma(n, a._data), a._data)
    return record(data, a._device, (a,), 'PolygammaBackward0', (lambda g: g * polygamma(n + 1, a),), (a,))


def mvlgamma(input, p):
    if p < 1:
        raise RuntimeError(f'p has to be greater than or equal to 1 (got {p})')
    a = _floating(input)
    if a.numel() and not bool((a._data > (p - 1) / 2).all()):
        raise RuntimeError(f'All elements must be greater than (p-1)/2 (p = {p})')
    out = lgamma(a)
    for i in range(1, p):
        out = out + lgamma(a - i / 2)
    return out + p * (p - 1) / 4 * math.log(math.pi)


def i0(input):
    return _unary(input, 'I0Backward0', 'i0', lambda g, a: g * i1(a))


def i1(input):
    def grad(g, a, out):  # i1'(x) = i0(x) - i1(x)/x, with the limit 1/2 at 0
        xp = a._device.xp
        safe = _wrap(xp.where(a._data == 0, 1, a._data), a._device)
        d = i0(a) - out / safe
        return g * _wrap(xp.where(a._data == 0, a._data.dtype.type(0.5), d._data), a._device)
    return _unary(input, 'SpecialI1Backward0', 'i1', grad, use_out=True)


def i0e(input):
    return _unary(input, 'SpecialI0EBackward0', 'i0e', lambda g, a, out: g * (i1e(a) - a.sign() * out),
                  use_out=True)


def i1e(input):
    def grad(g, a, out):
        xp = a._device.xp
        safe = _wrap(xp.where(a._data == 0, 1, a._data), a._device)
        d = i0e(a) - out * (a.sign() + 1 / safe)
        return g * _wrap(xp.where(a._data == 0, a._data.dtype.type(0.5), d._data), a._device)
    return _unary(input, 'SpecialI1EBackward0', 'i1e', grad, use_out=True)


def ndtr(input):
    return _unary(input, 'SpecialNdtrBackward0', 'ndtr', lambda g, a: g * exp(-a * a / 2) / math.sqrt(2 * math.pi))


def ndtri(input):
    return _unary(input, 'SpecialNdtriBackward0', 'ndtri',
                  lambda g, a, out: g * math.sqrt(2 * math.pi) * exp(out * out / 2), use_out=True)


def log_ndtr(input):
    return _unary(input, 'SpecialLogNdtrBackward0', 'log_ndtr',
                  lambda g, a, out: g * exp(-a * a / 2 - out) / math.sqrt(2 * math.pi), use_out=True)


def _igamma(a, x, upper):
    a, x = _pair(a, x, 'igammac' if upper else 'igamma')
    sp = _sp(a._device)
    data = _cast((sp.gammaincc if upper else sp.gammainc)(a._data, x._data), a._data)
    sx = x.shape

    def grad_x(g):  # d/dx P(a, x) = x^(a-1) e^-x / Gamma(a)
        xp = a._device.xp
        d = xp.exp((a._data - 1) * xp.log(x._data) - x._data - sp.gammaln(a._data))
        d = _wrap(_cast(-d if upper else d, a._data), a._device)
        return unbroadcast(g * d, sx)

    def grad_a(g):
        raise NotImplementedError(f'the derivative of {"igammac" if upper else "igamma"} with respect to its first '
                                  f'argument (input) is not implemented (as in PyTorch)')
    return record(data, a._device, (a, x), 'IgammacBackward0' if upper else 'IgammaBackward0', (grad_a, grad_x),
                  holds=True)


@broadcasting
def igamma(input, other):
    return _igamma(input, other, False)


@broadcasting
def igammac(input, other):
    return _igamma(input, other, True)


def entr(input):
    from .elementwise import log
    a = _floating(input)
    xp = a._device.xp
    x = a._data
    data = xp.where(x > 0, -x * xp.log(xp.where(x > 0, x, 1)), xp.where(x == 0, 0, -xp.inf)).astype(x.dtype)
    data = xp.where(xp.isnan(x), x, data)
    return record(data, a._device, (a,), 'SpecialEntrBackward0', (lambda g: g * (-log(a) - 1),), (a,))


__all__ = ['erf', 'erfc', 'erfinv', 'erfcx', 'lgamma', 'digamma', 'polygamma', 'mvlgamma', 'i0', 'i1', 'i0e', 'i1e',
           'ndtr', 'ndtri', 'log_ndtr', 'igamma', 'igammac', 'entr', 'Tensor']
