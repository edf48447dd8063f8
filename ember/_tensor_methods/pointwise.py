"""Tensor methods of the pointwise ops (ember/ops/elementwise, logic, math_extra, special)."""
from ..ops import elementwise as E, logic as G, math_extra as M, special as SP


class PointwiseMethods:
    """Mixed into ember.Tensor: `name = op` binds an op whose parameters are already PyTorch's (no extra call);
    a `def` renames the op's short parameter names (a, b) to the method's PyTorch names."""
    __slots__ = ()

    abs = E.abs
    absolute = E.abs
    acos = M.acos
    acosh = M.acosh

    def add(self, other, alpha=1):
        return E.add(self, other, alpha)

    def addcmul(self, tensor1, tensor2, *, value=1):
        return self + value * tensor1 * tensor2

    def addcdiv(self, tensor1, tensor2, *, value=1):
        return self + value * tensor1 / tensor2

    def lerp(self, end, weight):
        return self + weight * (end - self)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return G.allclose(self, other, rtol, atol, equal_nan)

    angle = M.angle
    arccos = M.acos
    arccosh = M.acosh
    arcsin = M.asin
    arcsinh = M.asinh
    arctan = E.atan
    arctanh = M.atanh
    arctan2 = M.atan2
    asin = M.asin
    asinh = M.asinh
    atan = E.atan
    atan2 = M.atan2
    atanh = M.atanh

    def bitwise_and(self, other):
        return G.bitwise_and(self, other)

    bitwise_left_shift = M.bitwise_left_shift
    bitwise_not = G.bitwise_not

    def bitwise_or(self, other):
        return G.bitwise_or(self, other)

    bitwise_right_shift = M.bitwise_right_shift

    def bitwise_xor(self, other):
        return G.bitwise_xor(self, other)

    ceil = E.ceil
    clamp = E.clamp
    clamp_max = M.clamp_max
    clamp_min = M.clamp_min
    clip = E.clamp
    copysign = M.copysign
    cos = E.cos
    cosh = M.cosh
    deg2rad = M.deg2rad
    digamma = SP.digamma

    def div(self, other, rounding_mode=None):
        return E.div(self, other, rounding_mode)

    def divide(self, other, rounding_mode=None):
        return E.div(self, other, rounding_mode)

    def eq(self, other):
        return G.eq(self, other)

    def equal(self, other):
        return G.equal(self, other)

    erf = SP.erf
    erfc = SP.erfc
    erfinv = SP.erfinv
    exp = E.exp
    exp2 = M.exp2
    expm1 = E.expm1
    float_power = M.float_power
    floor = E.floor

    def floor_divide(self, other):
        return E.floor_divide(self, other)

    fmax = M.fmax
    fmin = M.fmin

    def fmod(self, other):
        return E.fmod(self, other)

    frac = E.frac
    frexp = M.frexp
    gcd = M.gcd

    def ge(self, other):
        return G.ge(self, other)

    def gt(self, other):
        return G.gt(self, other)

    def greater(self, other):
        return G.gt(self, other)

    def greater_equal(self, other):
        return G.ge(self, other)

    def less(self, other):
        return G.lt(self, other)

    def less_equal(self, other):
        return G.le(self, other)

    def not_equal(self, other):
        return G.ne(self, other)

    heaviside = M.heaviside
    hypot = M.hypot
    i0 = SP.i0
    igamma = SP.igamma
    igammac = SP.igammac

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return G.isclose(self, other, rtol, atol, equal_nan)

    isfinite = G.isfinite
    isinf = G.isinf
    isnan = G.isnan
    isneginf = M.isneginf
    isposinf = M.isposinf
    isreal = M.isreal
    lcm = M.lcm
    ldexp = M.ldexp

    def le(self, other):
        return G.le(self, other)

    lgamma = SP.lgamma
    log = E.log
    log10 = E.log10
    log1p = E.log1p
    log2 = E.log2
    logaddexp = M.logaddexp
    logaddexp2 = M.logaddexp2

    def logical_and(self, other):
        return G.logical_and(self, other)

    logical_not = G.logical_not

    def logical_or(self, other):
        return G.logical_or(self, other)

    def logical_xor(self, other):
        return G.logical_xor(self, other)

    logit = M.logit

    def lt(self, other):
        return G.lt(self, other)

    def maximum(self, other):
        return E.maximum(self, other)

    def minimum(self, other):
        return E.minimum(self, other)

    def mul(self, other):
        return E.mul(self, other)

    def multiply(self, other):
        return E.mul(self, other)

    mvlgamma = SP.mvlgamma
    nan_to_num = M.nan_to_num

    def ne(self, other):
        return G.ne(self, other)

    neg = E.neg
    negative = E.neg
    nextafter = M.nextafter
    positive = M.positive

    def pow(self, exponent):
        return E.pow(self, exponent)

    rad2deg = M.rad2deg
    reciprocal = E.reciprocal
    relu = E.relu

    def remainder(self, other):
        return E.remainder(self, other)

    round = E.round
    rsqrt = E.rsqrt
    sigmoid = E.sigmoid
    sign = E.sign
    signbit = M.signbit
    sin = E.sin
    sinc = M.sinc
    sinh = M.sinh
    sqrt = E.sqrt
    square = E.square

    def sub(self, other, alpha=1):
        return E.sub(self, other, alpha)

    def subtract(self, other, alpha=1):
        return E.sub(self, other, alpha)

    tan = E.tan
    tanh = E.tanh

    def true_divide(self, other):
        return E.div(self, other)

    trunc = E.trunc
    fix = E.trunc
    xlogy = M.xlogy

    def polygamma(self, n):
        return SP.polygamma(n, self)

    def where(self, condition, other):
        return E.where(condition, self, other)
