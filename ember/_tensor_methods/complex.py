"""Tensor methods of complex numbers (ember/ops/complex): real/imag views, conj and its flag, the conjugate transposes."""
from .._dtype import to_dtype
from ..ops import complex as CX


class ComplexMethods:
    """Mixed into ember.Tensor; the parts are settable properties (``x.real = y`` writes through the view)."""
    __slots__ = ()

    real = property(CX.real, lambda self, value: CX.real(self).copy_(value))
    imag = property(CX.imag, lambda self, value: CX.imag(self).copy_(value))
    conj = CX.conj
    conj_physical = CX.conj_physical
    is_conj = CX.is_conj
    resolve_conj = CX.resolve_conj
    resolve_neg = CX.resolve_neg
    sgn = CX.sgn

    @property
    def mH(self):
        return CX.conj(self.transpose(-2, -1))

    @property
    def H(self):
        return CX.conj(self.transpose(-2, -1) if self.ndim >= 2 else self)

    def adjoint(self):
        return CX.conj(self.transpose(-2, -1))

    def cfloat(self, memory_format=None):
        return self.to(to_dtype('complex64'))

    def cdouble(self, memory_format=None):
        return self.to(to_dtype('complex128'))

    def chalf(self, memory_format=None):
        return self.to(to_dtype('complex32'))
