"""Tensor methods of the linear-algebra and spectral ops (ember/ops/linalg, linalg_extra, lu, lapack, spectral;
legacy forms in ember.linalg)."""
from ..ops import linalg as L, lu as LU, linalg_extra as LX, spectral as SPC, lapack as LP
from .. import linalg as LA


class LinalgMethods:
    """Mixed into ember.Tensor: `name = op` binds an op whose parameters are already PyTorch's (no extra call);
    a `def` renames the op's short parameter names (a, b) to the method's PyTorch names."""
    __slots__ = ()

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return L.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def bmm(self, mat2):
        return L.bmm(self, mat2)

    cholesky = LA._cholesky_legacy
    cholesky_inverse = LX.cholesky_inverse

    def cholesky_solve(self, input2, upper=False):
        return LX.cholesky_solve(self, input2, upper)

    cross = LA._cross_legacy
    det = LX.det

    def dot(self, other):
        return L.dot(self, other)

    def ger(self, vec2):
        return L.ger(self, vec2)

    def inner(self, other):
        return L.inner(self, other)

    inverse = LX.inv
    logdet = LX.logdet
    lu = LU.lu_legacy
    lu_solve = LU.lu_solve_legacy

    def matmul(self, other):
        return L.matmul(self, other)

    matrix_exp = LA.matrix_exp
    matrix_power = LA.matrix_power

    def mm(self, mat2):
        return L.mm(self, mat2)

    def mv(self, vec):
        return L.mv(self, vec)

    def outer(self, vec2):
        return L.outer(self, vec2)

    pinverse = LA._pinverse_legacy
    qr = LA._qr_legacy
    slogdet = LX.slogdet
    svd = LX.svd_legacy
    triangular_solve = LX.triangular_solve
    stft = SPC.stft
    istft = SPC.istft
    geqrf = LP.geqrf
    ormqr = LP.ormqr

    def orgqr(self, input2):
        return LP.householder_product(self, input2)
