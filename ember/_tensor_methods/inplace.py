"""Tensor's in-place methods (``add_``, ``exp_``, ``masked_fill_``, ``uniform_``, ``zero_``, ...) and ``new_*``."""
from .._creation import _filled, tensor as _tensor
from ..backends.random import fill_random_
from ..ops import elementwise as E, index as I, shape as S, inplace as IP, storage as ST
from ..ops import complex as C, logic as G, math_extra as M, special as SP
from ..ops.inplace import inplace_binary, inplace_unary
from ..ops._util import fit_alpha


class InplaceMethods:
    """Mixed into ember.Tensor. An in-place method writes straight into memory when no graph is recorded, else
    computes the result out of place and rebinds the tensor to it (ember/ops/inplace.py, DEVELOPING.md)."""
    __slots__ = ()

    # ---- binary: `a.op_(b)` is `a = op(a, b)` in place (NumPy's ufunc named second writes without a graph) --------
    def add_(self, other, alpha=None):
        if alpha is None:
            return inplace_binary(self, other, 'add', E.add, 'add_')
        if type(alpha) is int:  # (an int alpha must fit the dtype, as fill_'s value)
            alpha = fit_alpha(alpha, self._data.dtype)
        return inplace_binary(self, other * alpha, 'add', E.add, 'add_')

    def sub_(self, other, alpha=None):
        if alpha is None:
            return inplace_binary(self, other, 'subtract', E.sub, 'sub_')
        if type(alpha) is int:  # (PyTorch adds other times -alpha: that must fit the dtype)
            alpha = fit_alpha(alpha, self._data.dtype, True)
        return inplace_binary(self, other * alpha, 'subtract', E.sub, 'sub_')

    def mul_(self, other):
        return inplace_binary(self, other, 'multiply', E.mul, 'mul_')

    def div_(self, other, *, rounding_mode=None):
        if rounding_mode is not None:
            return inplace_unary(self, E.div, 'div_', other, rounding_mode)
        return inplace_binary(self, other, 'divide', E.div, 'div_')

    def true_divide_(self, other):
        return inplace_binary(self, other, 'divide', E.div, 'div_')

    def pow_(self, exponent):
        return inplace_binary(self, exponent, 'power', E.pow, 'pow_')

    def remainder_(self, other):
        return inplace_binary(self, other, 'remainder', E.remainder, 'remainder_')

    def floor_divide_(self, other):
        return inplace_binary(self, other, 'floor_divide', E.floor_divide, 'floor_divide_')

    multiply_, subtract_, divide_ = mul_, sub_, div_

    # ---- unary and with arguments: `a.op_(*args)` is `a = op(a, *args)` in place ---------------------------------
    def exp_(self):
        return inplace_unary(self, E.exp, 'exp_')

    def log_(self):
        return inplace_unary(self, E.log, 'log_')

    def sqrt_(self):
        return inplace_unary(self, E.sqrt, 'sqrt_')

    def abs_(self):
        return inplace_unary(self, E.abs, 'abs_')

    def neg_(self):
        return inplace_unary(self, E.neg, 'neg_')

    def relu_(self):
        return inplace_unary(self, E.relu, 'relu_')

    def sigmoid_(self):
        return inplace_unary(self, E.sigmoid, 'sigmoid_')

    def tanh_(self):
        return inplace_unary(self, E.tanh, 'tanh_')

    def clamp_(self, min=None, max=None):
        return inplace_unary(self, E.clamp, 'clamp_', min, max)

    def floor_(self):
        return inplace_unary(self, E.floor, 'floor_')

    def ceil_(self):
        return inplace_unary(self, E.ceil, 'ceil_')

    def round_(self, decimals=0):
        return inplace_unary(self, E.round, 'round_', decimals)

    def sign_(self):
        return inplace_unary(self, E.sign, 'sign_')

    def sin_(self):
        return inplace_unary(self, E.sin, 'sin_')

    def cos_(self):
        return inplace_unary(self, E.cos, 'cos_')

    def reciprocal_(self):
        return inplace_unary(self, E.reciprocal, 'reciprocal_')

    def log1p_(self):
        return inplace_unary(self, E.log1p, 'log1p_')

    def expm1_(self):
        return inplace_unary(self, E.expm1, 'expm1_')

    def trunc_(self):
        return inplace_unary(self, E.trunc, 'trunc_')

    def rsqrt_(self):
        return inplace_unary(self, E.rsqrt, 'rsqrt_')

    def square_(self):
        return inplace_unary(self, E.square, 'square_')


    # ---- elementwise in place through the out-of-place op (promotion above self's dtype refused) ----------------
    def acos_(self):
        return inplace_unary(self, M.acos, 'acos_')

    def acosh_(self):
        return inplace_unary(self, M.acosh, 'acosh_')

    def asin_(self):
        return inplace_unary(self, M.asin, 'asin_')

    def asinh_(self):
        return inplace_unary(self, M.asinh, 'asinh_')

    def atan_(self):
        return inplace_unary(self, E.atan, 'atan_')

    def atanh_(self):
        return inplace_unary(self, M.atanh, 'atanh_')

    def cosh_(self):
        return inplace_unary(self, M.cosh, 'cosh_')

    def sinh_(self):
        return inplace_unary(self, M.sinh, 'sinh_')

    def tan_(self):
        return inplace_unary(self, E.tan, 'tan_')

    def erf_(self):
        return inplace_unary(self, SP.erf, 'erf_')

    def erfc_(self):
        return inplace_unary(self, SP.erfc, 'erfc_')

    def erfinv_(self):
        return inplace_unary(self, SP.erfinv, 'erfinv_')

    def exp2_(self):
        return inplace_unary(self, M.exp2, 'exp2_')

    def log2_(self):
        return inplace_unary(self, E.log2, 'log2_')

    def log10_(self):
        return inplace_unary(self, E.log10, 'log10_')

    def lgamma_(self):
        return inplace_unary(self, SP.lgamma, 'lgamma_')

    def digamma_(self):
        return inplace_unary(self, SP.digamma, 'digamma_')

    def i0_(self):
        return inplace_unary(self, SP.i0, 'i0_')

    def sinc_(self):
        return inplace_unary(self, M.sinc, 'sinc_')

    def frac_(self):
        return inplace_unary(self, E.frac, 'frac_')

    def deg2rad_(self):
        return inplace_unary(self, M.deg2rad, 'deg2rad_')

    def rad2deg_(self):
        return inplace_unary(self, M.rad2deg, 'rad2deg_')

    def sgn_(self):
        return inplace_unary(self, C.sgn, 'sgn_')

    def logical_not_(self):
        return inplace_unary(self, G.logical_not, 'logical_not_')

    def bitwise_not_(self):
        return inplace_unary(self, G.bitwise_not, 'bitwise_not_')

    def atan2_(self, other):
        return inplace_unary(self, M.atan2, 'atan2_', other)

    def xlogy_(self, other):
        return inplace_unary(self, M.xlogy, 'xlogy_', other)

    def hypot_(self, other):
        return inplace_unary(self, M.hypot, 'hypot_', other)

    def heaviside_(self, values):
        return inplace_unary(self, M.heaviside, 'heaviside_', values)

    def copysign_(self, other):
        return inplace_unary(self, M.copysign, 'copysign_', other)

    def fmod_(self, other):
        return inplace_unary(self, E.fmod, 'fmod_', other)

    def nextafter_(self, other):
        return inplace_unary(self, M.nextafter, 'nextafter_', other)

    def gcd_(self, other):
        return inplace_unary(self, M.gcd, 'gcd_', other)

    def lcm_(self, other):
        return inplace_unary(self, M.lcm, 'lcm_', other)

    def igamma_(self, other):
        return inplace_unary(self, SP.igamma, 'igamma_', other)

    def igammac_(self, other):
        return inplace_unary(self, SP.igammac, 'igammac_', other)

    def clamp_min_(self, min):
        return inplace_unary(self, M.clamp_min, 'clamp_min_', min)

    def clamp_max_(self, max):
        return inplace_unary(self, M.clamp_max, 'clamp_max_', max)

    def eq_(self, other):
        return inplace_unary(self, G.eq, 'eq_', other)

    def ne_(self, other):
        return inplace_unary(self, G.ne, 'ne_', other)

    def lt_(self, other):
        return inplace_unary(self, G.lt, 'lt_', other)

    def le_(self, other):
        return inplace_unary(self, G.le, 'le_', other)

    def gt_(self, other):
        return inplace_unary(self, G.gt, 'gt_', other)

    def ge_(self, other):
        return inplace_unary(self, G.ge, 'ge_', other)

    def logical_and_(self, other):
        return inplace_unary(self, G.logical_and, 'logical_and_', other)

    def logical_or_(self, other):
        return inplace_unary(self, G.logical_or, 'logical_or_', other)

    def logical_xor_(self, other):
        return inplace_unary(self, G.logical_xor, 'logical_xor_', other)

    def bitwise_and_(self, other):
        return inplace_unary(self, G.bitwise_and, 'bitwise_and_', other)

    def bitwise_or_(self, other):
        return inplace_unary(self, G.bitwise_or, 'bitwise_or_', other)

    def bitwise_xor_(self, other):
        return inplace_unary(self, G.bitwise_xor, 'bitwise_xor_', other)

    def bitwise_left_shift_(self, other):
        return inplace_unary(self, M.bitwise_left_shift, 'bitwise_left_shift_', other)

    def bitwise_right_shift_(self, other):
        return inplace_unary(self, M.bitwise_right_shift, 'bitwise_right_shift_', other)

    def logit_(self, eps=None):
        return inplace_unary(self, M.logit, 'logit_', eps)

    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        return inplace_unary(self, M.nan_to_num, 'nan_to_num_', nan, posinf, neginf)

    def ldexp_(self, other):
        return inplace_unary(self, M.ldexp, 'ldexp_', other)

    def float_power_(self, exponent):
        want = 'complex128' if self._data.dtype.kind == 'c' or (isinstance(exponent, complex) or (
            hasattr(exponent, 'is_complex') and exponent.is_complex())) else 'float64'
        if str(self._data.dtype) != want:  # (PyTorch computes in double and refuses any other self)
            raise RuntimeError(f"the base given to float_power_ has dtype {str(self.dtype)[6:].capitalize()} but the "
                               f"operation's result requires dtype {'ComplexDouble' if want[0] == 'c' else 'Double'}")
        return inplace_unary(self, M.float_power, 'float_power_', exponent)

    def polygamma_(self, n):
        return inplace_unary(self, lambda a, n: SP.polygamma(n, a), 'polygamma_', n)

    def mvlgamma_(self, p):
        return inplace_unary(self, SP.mvlgamma, 'mvlgamma_', p)

    arccos_, arccosh_, arcsin_, arcsinh_, arctan_, arctanh_ = acos_, acosh_, asin_, asinh_, atan_, atanh_
    arctan2_, fix_, absolute_ = atan2_, trunc_, abs_
    greater_, greater_equal_, less_, less_equal_, not_equal_ = gt_, ge_, lt_, le_, ne_


    # ---- in place through the Tensor's own out-of-place method ----------------------------------------------------
    def addcmul_(self, tensor1, tensor2, *, value=1):
        return inplace_unary(self, type(self).addcmul, 'addcmul_', tensor1, tensor2, value=value)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return inplace_unary(self, type(self).addcdiv, 'addcdiv_', tensor1, tensor2, value=value)

    def lerp_(self, end, weight):
        return inplace_unary(self, type(self).lerp, 'lerp_', end, weight)

    def addmm_(self, mat1, mat2, *, beta=1, alpha=1):
        return inplace_unary(self, type(self).addmm, 'addmm_', mat1, mat2, beta=beta, alpha=alpha)

    def addmv_(self, mat, vec, *, beta=1, alpha=1):
        return inplace_unary(self, type(self).addmv, 'addmv_', mat, vec, beta=beta, alpha=alpha)

    def addr_(self, vec1, vec2, *, beta=1, alpha=1):
        return inplace_unary(self, type(self).addr, 'addr_', vec1, vec2, beta=beta, alpha=alpha)

    def addbmm_(self, batch1, batch2, *, beta=1, alpha=1):
        return inplace_unary(self, type(self).addbmm, 'addbmm_', batch1, batch2, beta=beta, alpha=alpha)

    def baddbmm_(self, batch1, batch2, *, beta=1, alpha=1):
        return inplace_unary(self, type(self).baddbmm, 'baddbmm_', batch1, batch2, beta=beta, alpha=alpha)

    def cumsum_(self, dim, *, dtype=None):
        return inplace_unary(self, type(self).cumsum, 'cumsum_', dim, dtype=dtype)

    def cumprod_(self, dim, *, dtype=None):
        return inplace_unary(self, type(self).cumprod, 'cumprod_', dim, dtype=dtype)

    def renorm_(self, p, dim, maxnorm):
        return inplace_unary(self, type(self).renorm, 'renorm_', p, dim, maxnorm)

    def index_fill_(self, dim, index, value):
        return inplace_unary(self, type(self).index_fill, 'index_fill_', dim, index, value)

    def index_reduce_(self, dim, index, source, reduce, *, include_self=True):
        return inplace_unary(self, type(self).index_reduce, 'index_reduce_', dim, index, source, reduce,
                             include_self=include_self)

    def put_(self, index, source, accumulate=False):
        return inplace_unary(self, type(self).put, 'put_', index, source, accumulate)

    def masked_fill_(self, mask, value):
        if 0 in self._data.strides and IP.overlaps(self._data):  # (an expand: filled all the same, with a warning)
            return IP.masked_fill_overlapping(self, I.masked_fill, mask, value)
        return inplace_unary(self, I.masked_fill, 'masked_fill_', mask, value)

    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        return inplace_unary(self, I.scatter, 'scatter_', dim, index, src, value, reduce=reduce)

    def scatter_add_(self, dim, index, src):
        return inplace_unary(self, I.scatter_add, 'scatter_add_', dim, index, src)

    def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
        return inplace_unary(self, I.scatter_reduce, 'scatter_reduce_', dim, index, src, reduce,
                             include_self=include_self)

    def index_add_(self, dim, index, source, *, alpha=1):
        return inplace_unary(self, I.index_add, 'index_add_', dim, index, source, alpha=alpha)

    def tril_(self, diagonal=0):
        return inplace_unary(self, S.tril, 'tril_', diagonal)

    def triu_(self, diagonal=0):
        return inplace_unary(self, S.triu, 'triu_', diagonal)

    def maximum_(self, other):
        return inplace_unary(self, E.maximum, 'maximum_', other)

    def minimum_(self, other):
        return inplace_unary(self, E.minimum, 'minimum_', other)

    clip_ = clamp_
    negative_ = neg_

    def index_put_(self, indices, values, accumulate=False):
        if accumulate:
            return inplace_unary(self, lambda a: I.index_put_acc(a, indices, values), 'index_put_')
        return I.setitem(self, indices, values)

    # ---- whole-tensor writes (ember/ops/inplace.py) -------------------------------------------------------------
    zero_ = IP.zero_
    fill_ = IP.fill_
    copy_ = IP.copy_

    # ---- random fills, drawn as PyTorch draws them (ember/_sampling.py: random_fill) ----------------------------
    def uniform_(self, from_=0.0, to=1.0, *, generator=None):
        return fill_random_(self, 'uniform_', generator, from_=from_, to=to)

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        return fill_random_(self, 'normal_', generator, mean=mean, std=std)

    def bernoulli_(self, p=0.5, *, generator=None):
        return fill_random_(self, 'bernoulli_', generator, p=p)

    def exponential_(self, lambd=1.0, *, generator=None):
        return fill_random_(self, 'exponential_', generator, lambd=lambd)

    def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
        return fill_random_(self, 'log_normal_', generator, mean=mean, std=std)

    def geometric_(self, p, *, generator=None):
        return fill_random_(self, 'geometric_', generator, p=p)

    def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
        return fill_random_(self, 'cauchy_', generator, median=median, sigma=sigma)

    def random_(self, *from_to, generator=None, **kwargs):
        # random_(to), random_(from, to) and random_(from, None) differ by what is given: kept as given
        return fill_random_(self, 'random_', generator, *from_to, **kwargs)

    # ---- new tensors of this one's dtype and device -------------------------------------------------------------
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False, **kw):
        return _new_filled(self, 0, 'new_zeros', size, dtype, device, requires_grad, kw)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False, **kw):
        return _new_filled(self, 1, 'new_ones', size, dtype, device, requires_grad, kw)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False, **kw):
        return _new_filled(self, None, 'new_empty', size, dtype, device, requires_grad, kw)

    def new_full(self, *size_value, dtype=None, device=None, requires_grad=False, **kw):
        return _new_filled(self, 'full', 'new_full', size_value, dtype, device, requires_grad, kw)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return _tensor(data, dtype=dtype or self.dtype, device=device or self._device, requires_grad=requires_grad)

    # ---- storage geometry (ember/ops/storage.py) ----------------------------------------------------------------
    as_strided_ = ST.as_strided_
    resize_ = ST.resize_
    resize_as_ = ST.resize_as_


def _new_filled(self, fill, name, size, dtype, device, requires_grad, kw):
    if 'size' in kw:  # PyTorch's keyword: x.new_zeros(size=(2, 3)), x.new_full(size=(2,), fill_value=1)
        if size and (fill != 'full' or len(size) > 1 or 'fill_value' in kw):
            raise TypeError(f"{name}() got multiple values for argument 'size'")
        size = (kw.pop('size'),) + size
    if 'fill_value' in kw:
        size = size + (kw.pop('fill_value'),)
    if fill == 'full':
        size, fill = size[0], size[1]
        size = (size,) if isinstance(size, int) else size
    return _filled(fill, size, dtype or self.dtype, device or self._device, requires_grad)
