"""Tensor methods for the ops in math_extra, special, reduce_extra, shape_extra, misc_extra and linalg (see _tensor)."""


def install(T):
    from . import math_extra as M, special as SP
    for fn in (M.asin, M.acos, M.asinh, M.acosh, M.atanh, M.sinh, M.cosh, M.exp2, M.deg2rad, M.rad2deg, M.sinc,
               M.sgn, M.signbit, M.positive, M.nan_to_num, M.clamp_min, M.clamp_max, M.logit, M.frexp, M.isposinf,
               M.isneginf, M.isreal, M.conj, M.resolve_conj, M.resolve_neg, M.conj_physical, M.angle, M.atan2,
               M.arctan2, M.hypot, M.copysign, M.logaddexp, M.logaddexp2, M.xlogy, M.fmax, M.fmin, M.float_power,
               M.ldexp, M.nextafter, M.gcd, M.lcm, M.bitwise_left_shift, M.bitwise_right_shift, M.heaviside,
               SP.erf, SP.erfc, SP.erfinv, SP.lgamma, SP.digamma, SP.i0, SP.igamma, SP.igammac, SP.mvlgamma):
        setattr(T, fn.__name__, fn)
    T.arcsin, T.arccos, T.arcsinh, T.arccosh, T.arctanh = M.asin, M.acos, M.asinh, M.acosh, M.atanh
    T.real = property(M.real)
    T.polygamma = lambda self, n: SP.polygamma(n, self)
    T.__lshift__, T.__rshift__ = M.bitwise_left_shift, M.bitwise_right_shift
    from .. import linalg as LA
    from . import linalg_extra as LX, lu as LU, lapack as LP
    for name, fn in (('det', LX.det), ('slogdet', LX.slogdet), ('logdet', LX.logdet),
                     ('cholesky_inverse', LX.cholesky_inverse), ('cholesky_solve', LX.cholesky_solve),
                     ('triangular_solve', LX.triangular_solve), ('svd', LX.svd_legacy),
                     ('matrix_power', LA.matrix_power), ('matrix_exp', LA.matrix_exp), ('inverse', LA.inv),
                     ('cholesky', LA._cholesky_legacy), ('qr', LA._qr_legacy), ('pinverse', LA._pinverse_legacy),
                     ('cross', LA._cross_legacy), ('lu', LU.lu_legacy), ('lu_solve', LU.lu_solve_legacy),
                     ('geqrf', LP.geqrf), ('ormqr', LP.ormqr), ('orgqr', LP.householder_product)):
        setattr(T, name, fn)
    from . import storage as ST
    T.as_strided, T.as_strided_, T.resize_, T.resize_as_ = ST.as_strided, ST.as_strided_, ST.resize_, ST.resize_as_
    T.storage_offset = ST.storage_offset
    from .hashing import hash_tensor
    T.hash_tensor = hash_tensor
    from . import reduce_extra as RX, shape_extra as SX, misc_extra as MX
    for fn in RX.METHODS + SX.METHODS + MX.METHODS:
        setattr(T, fn.__name__, fn)
