"""torch.linalg's core: inv, det, slogdet, solve, cholesky, eigh, svd, qr on numpy.linalg/cupy.linalg, with gradients.

Batched (leading dims) throughout. Backward formulas are the standard ones (Giles 2008 for inv/det/solve/eigh,
Townsend 2016 for the SVD, Walter & Seeger for QR, Murray 2016 for Cholesky); those written on raw arrays
(det, eigh, svd, qr) support one level of differentiation.
"""
from collections import namedtuple

from .._dtype import int32
from ._util import Tensor, record, record_with_output, unbroadcast, _wrap
from .shape import tril, triu


class LinAlgError(RuntimeError):
    """A matrix that is singular or not positive-definite (PyTorch's torch.linalg.LinAlgError)."""


_ex = namedtuple('inv_ex', ['inverse', 'info'])
_solve_ex = namedtuple('solve_ex', ['result', 'info'])
_chol_ex = namedtuple('cholesky_ex', ['L', 'info'])
_slogdet = namedtuple('slogdet', ['sign', 'logabsdet'])
_eigh = namedtuple('eigh', ['eigenvalues', 'eigenvectors'])
_svd = namedtuple('svd', ['U', 'S', 'Vh'])
_qr = namedtuple('qr', ['Q', 'R'])


def square_matrices(A, op):
    """PyTorch's checks that A is a (batch of) square matrices, with its messages."""
    if A.ndim < 2:
        raise RuntimeError(f'{op}: The input tensor A must have at least 2 dimensions.')
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f'{op}: A must be batches of square matrices, but they are {A.shape[-2]} by '
                           f'{A.shape[-1]} matrices')


def _square(A, op):
    if not isinstance(A, Tensor):
        raise TypeError(f'{op}(): argument \'A\' (position 1) must be Tensor, not {type(A).__name__}')
    square_matrices(A, op)
    if A._data.dtype.kind == 'c':  # (PyTorch computes these; ember's gradients are written for real matrices)
        raise NotImplementedError(f'{op}: ember does not support complex input yet (got {A.dtype.name}); only '
                                  f'linalg.eig/eigvals take complex matrices')
    if A._data.dtype.kind != 'f':
        raise RuntimeError(f'{op}: Expected a floating point or complex tensor as input. Got {A.dtype.name}')


def _mT(x):
    return x.swapaxes(-1, -2)


def _info(A):
    xp = A._device.xp
    return _wrap(xp.zeros(A.shape[:-2], dtype=int32.np), A._device)


# ---- inverse, determinant ---------------------------------------------------------------------------------------
def inv(A, *, out=None):
    _square(A, 'linalg.inv')
    xp = A._device.xp
    try:
        data = xp.linalg.inv(A._data)
    except Exception:  # numpy.linalg.LinAlgError
        raise LinAlgError('linalg.inv: The diagonal element 1 is zero, the inversion could not be completed because '
                          'the input matrix is singular.') from None
    return record_with_output(data, A._device, (A,), 'LinalgInvExBackward0',
                              lambda o: (lambda g: -(o().mT @ g @ o().mT),))


def inv_ex(A, *, check_errors=False):
    return _ex(inv(A), _info(A))


def _cofactor_T(a, xp):
    """d det(A) / dA, also for singular A: det(U) det(V) U diag(prod_{j != i} s_j) V^T from the SVD."""
    n = a.shape[-1]
    if n == 0:
        return xp.zeros_like(a)
    u, s, vh = xp.linalg.svd(a)
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    others = xp.stack([xp.prod(xp.delete(s, i, axis=-1), axis=-1) for i in range(n)], -1)
    return (u * (others * sign[..., None])[..., None, :]) @ vh


def det(A, *, out=None):
    _square(A, 'linalg.det')
    xp = A._device.xp
    data = xp.linalg.det(A._data).astype(A._data.dtype, copy=False)

    def grad(g):
        return g.unsqueeze(-1).unsqueeze(-1) * _wrap(_cofactor_T(A._data, xp).astype(A._data.dtype), g._device)
    return record(data, A._device, (A,), 'LinalgDetBackward0', (grad,), (A,))


def slogdet(A, *, out=None):
    _square(A, 'linalg.slogdet')
    xp = A._device.xp
    sign, logabs = xp.linalg.slogdet(A._data)
    dt = A._data.dtype
    logabs = record(logabs.astype(dt, copy=False), A._device, (A,), 'LinalgSlogdetBackward0',
                    (lambda g: g.unsqueeze(-1).unsqueeze(-1) * inv(A).mT,), (A,))
    sign = record(sign.astype(dt, copy=False), A._device, (A,), 'LinalgSlogdetBackward0', (lambda g: A * 0,), (A,))
    return _slogdet(sign, logabs)


def logdet(input):
    s, la = slogdet(input)
    xp = input._device.xp
    nan = _wrap(xp.where(s._data < 0, xp.nan, 0).astype(input._data.dtype), input._device)
    return la + nan


# ---- solve ------------------------------------------------------------------------------------------------------
def _solve_mat(A, B):
    """A X = B for matrices B (batch dims broadcast)."""
    xp = A._device.xp
    try:
        data = xp.linalg.solve(A._data, B._data)
    except Exception:
        raise LinAlgError('linalg.solve: The solver failed because the input matrix is singular.') from None
    sa, sb = A.shape, B.shape

    def make(x):
        def grad_b(g):
            return unbroadcast(_solve_mat(A.mT, g), sb)

        def grad_a(g):
            return unbroadcast(-(_solve_mat(A.mT, g) @ x().mT), sa)
        return (grad_a, grad_b)
    return record_with_output(data, A._device, (A, B), 'LinalgSolveExBackward0', make, (A,))


def solve(A, B, *, left=True, out=None):
    _square(A, 'linalg.solve')
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(f'linalg.solve: Expected A and B to have the same dtype, but found A of type '
                           f'{A.dtype.name} and B of type {B.dtype.name} instead')
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    if not left:
        return solve(A.mT, B.mT if not vector else B).mT if not vector else solve(A.mT, B)
    if vector:
        return _solve_mat(A, B.unsqueeze(-1)).squeeze(-1)
    return _solve_mat(A, B)


def solve_ex(A, B, *, left=True, check_errors=False):
    return _solve_ex(solve(A, B, left=left), _info(A))


def solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):
    T = triu(A) if upper else tril(A)
    if unitriangular:
        xp = A._device.xp
        eye = xp.eye(A.shape[-1], dtype=A._data.dtype)
        T = T * _wrap(1 - eye, A._device) + _wrap(eye, A._device)
    if not left:
        return _solve_mat(T.mT, B.mT).mT
    return _solve_mat(T, B)


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    res = namedtuple('triangular_solve', ['solution', 'cloned_coefficient'])
    M = A.mT if transpose else A
    x = solve_triangular(M, b, upper=upper != transpose, unitriangular=unitriangular)
    return res(x, A.clone())


# ---- Cholesky ---------------------------------------------------------------------------------------------------
def cholesky(A, *, upper=False, out=None):
    _square(A, 'linalg.cholesky')
    xp = A._device.xp
    try:
        data = xp.linalg.cholesky(A._data)
    except Exception:
        raise LinAlgError('linalg.cholesky: The factorization could not be completed because the input is not '
                          'positive-definite.') from None

    def make(L):
        def grad(g):  # Murray 2016: A_bar = L^-T Phi(L^T L_bar) L^-1, symmetrised
            Lt = L()
            P = Lt.mT @ g
            P = tril(P, -1) + _diag_half(P)
            Linv = inv(Lt)
            S = Linv.mT @ P @ Linv
            return (S + S.mT) * 0.5
        return (grad,)
    out = record_with_output(data, A._device, (A,), 'LinalgCholeskyExBackward0', make)
    return out.mT if upper else out


def _diag_half(P):
    xp = P._device.xp
    eye = _wrap(xp.eye(P.shape[-1], dtype=P._data.dtype) * 0.5, P._device)
    return P * eye


def cholesky_ex(A, *, upper=False, check_errors=False):
    return _chol_ex(cholesky(A, upper=upper), _info(A))


def cholesky_inverse(L, upper=False):
    A = L.mT @ L if upper else L @ L.mT
    return inv(A)


def cholesky_solve(B, L, upper=False):
    A = L.mT @ L if upper else L @ L.mT
    return _solve_mat(A, B)


# ---- eigh -------------------------------------------------------------------------------------------------------
def _eigh_grad(a, w, v, gw, gv, xp):
    """Giles: A_bar = V (diag(w_bar) + F o (V^T V_bar)) V^T, F_ij = 1 / (w_j - w_i) off the diagonal."""
    inner = xp.zeros(a.shape, a.dtype)
    if gw is not None:
        inner = inner + xp.eye(a.shape[-1], dtype=a.dtype) * gw[..., None, :]
    if gv is not None:
        diff = w[..., None, :] - w[..., :, None]
        n = a.shape[-1]
        eye = xp.eye(n, dtype=bool)
        F = xp.where(eye, 0, 1 / xp.where(eye, 1, diff))
        inner = inner + F * (_mT(v) @ gv)
    return v @ inner @ _mT(v)


def _eigh_nodes(A, w, v, name, want_v):
    xp = A._device.xp
    a = A._data
    outs = [None, None]

    def grad_of(i):
        def grad(g):
            gw = g._data if i == 0 else None
            gv = g._data if i == 1 else None
            return _wrap(_eigh_grad(a, w, v, gw, gv, xp), g._device)
        return grad
    # one graph node per output; the engine sums the two contributions into A
    outs[0] = record(w, A._device, (A,), name, (grad_of(0),), holds=True)
    if want_v:
        outs[1] = record(v, A._device, (A,), name, (grad_of(1),), holds=True)
    return outs


def eigh(A, UPLO='L', *, out=None):
    _square(A, 'linalg.eigh')
    w, v = A._device.xp.linalg.eigh(A._data, UPLO=UPLO)
    ow, ov = _eigh_nodes(A, w, v, 'LinalgEighBackward0', True)
    return _eigh(ow, ov)


def eigvalsh(A, UPLO='L', *, out=None):
    _square(A, 'linalg.eigvalsh')
    w, v = A._device.xp.linalg.eigh(A._data, UPLO=UPLO)
    return _eigh_nodes(A, w, v, 'LinalgEighBackward0', False)[0]


# ---- SVD --------------------------------------------------------------------------------------------------------
def _svd_grad(u, s, vh, gu, gs, gvh, xp):
    """Townsend 2016, for the reduced SVD A = U diag(S) Vh."""
    k = s.shape[-1]
    v = _mT(vh)
    out = 0
    if gs is not None:
        out = (u * gs[..., None, :]) @ vh
    if gu is None and gvh is None:
        return out
    eye = xp.eye(k, dtype=bool)
    diff = s[..., None, :] ** 2 - s[..., :, None] ** 2
    F = xp.where(eye, 0, 1 / xp.where(eye, 1, diff))
    inner = 0
    sinv = 1 / s
    if gu is not None:
        J = F * (_mT(u) @ gu - _mT(gu) @ u)
        inner = inner + J * s[..., None, :]
        m = u.shape[-2]
        if m > k:
            out = out + ((xp.eye(m, dtype=u.dtype) - u @ _mT(u)) @ gu * sinv[..., None, :]) @ vh
    if gvh is not None:
        gv = _mT(gvh)
        K = F * (_mT(v) @ gv - _mT(gv) @ v)
        inner = inner + s[..., :, None] * K
        n = v.shape[-2]
        if n > k:
            out = out + (u * sinv[..., None, :]) @ _mT(gv) @ (xp.eye(n, dtype=u.dtype) - v @ vh)
    return out + u @ inner @ vh


def _svd_raw(A, full_matrices):
    xp = A._device.xp
    if A._data.size == 0:
        m, n = A.shape[-2:]
        k = min(m, n)
        b = tuple(A.shape[:-2])
        dt = A._data.dtype
        mu, nv = (m, n) if full_matrices else (k, k)
        return (xp.broadcast_to(xp.eye(m, mu, dtype=dt), b + (m, mu)).copy(), xp.zeros(b + (k,), dt),
                xp.broadcast_to(xp.eye(nv, n, dtype=dt), b + (nv, n)).copy())
    return xp.linalg.svd(A._data, full_matrices=full_matrices)


def svd(A, full_matrices=True, *, driver=None, out=None):
    if A.ndim < 2:
        raise RuntimeError('linalg.svd: The input tensor A must have at least 2 dimensions.')
    xp = A._device.xp
    u, s, vh = _svd_raw(A, full_matrices)
    k = s.shape[-1]
    ur, vhr = u[..., :, :k], vh[..., :k, :]  # gradients of full factors use their first k columns, as in PyTorch

    def grad_of(i):
        def grad(g):
            gs = [None, None, None]
            gd = g._data
            if i == 0:
                gd = gd[..., :, :k]
            elif i == 2:
                gd = gd[..., :k, :]
            gs[i] = gd
            return _wrap(_svd_grad(ur, s, vhr, *gs, xp), g._device)
        return grad
    outs = [record(x, A._device, (A,), 'LinalgSvdBackward0', (grad_of(i),), holds=True)
            for i, x in enumerate((u, s, vh))]
    return _svd(*outs)


def svdvals(A, *, driver=None, out=None):
    if A.ndim < 2:
        raise RuntimeError('linalg.svdvals: The input tensor A must have at least 2 dimensions.')
    xp = A._device.xp
    u, s, vh = _svd_raw(A, False)
    return record(s, A._device, (A,), 'LinalgSvdBackward0',
                  (lambda g: _wrap(_svd_grad(u, s, vh, None, g._data, None, xp), g._device),), holds=True)


def svd_legacy(input, some=True, compute_uv=True):
    """torch.svd: (U, S, V) with V (not Vh); zero U and V when compute_uv is False."""
    res = namedtuple('svd', ['U', 'S', 'V'])
    U, S, Vh = svd(input, full_matrices=not some)
    if not compute_uv:
        return res(U * 0, S, Vh.mT * 0)
    return res(U, S, Vh.mT)


# ---- QR ---------------------------------------------------------------------------------------------------------
def _copyltu(M, xp):
    low = xp.tril(M, -1)
    return low + _mT(low) + xp.eye(M.shape[-1], dtype=M.dtype) * xp.diagonal(M, axis1=-2, axis2=-1)[..., None, :]


def _qr_square_grad(q, r, gq, gr, xp):
    M = r @ _mT(gr) - _mT(gq) @ q
    rhs = gq + q @ _copyltu(M, xp)
    return _mT(xp.linalg.solve(r, _mT(rhs)))


def qr(A, mode='reduced', *, out=None):
    if A.ndim < 2:
        raise RuntimeError('linalg.qr: The input tensor A must have at least 2 dimensions.')
    if mode not in ('reduced', 'complete', 'r'):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', "
                           f"or 'complete'")
    xp = A._device.xp
    m, n = A.shape[-2:]
    if A._data.size == 0:
        b = tuple(A.shape[:-2])
        k = m if mode == 'complete' else min(m, n)
        q = xp.broadcast_to(xp.eye(m, k, dtype=A._data.dtype), b + (m, k)).copy()
        r = xp.zeros(b + (k, n), A._data.dtype)
    else:
        q, r = xp.linalg.qr(A._data, mode='complete' if mode == 'complete' else 'reduced')
    if mode == 'r':
        q = xp.zeros((0,), A._data.dtype)

    def grad_of(i):
        def grad(g):  # M = R R_bar^T - Q_bar^T Q; A_bar = (Q_bar + Q copyltu(M)) R^-T  (m >= n, or square Q)
            if mode == 'r':
                raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                                   "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                                   "through linalg.qr.")
            if mode == 'complete' and m > n:
                raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
            gq = g._data if i == 0 else xp.zeros_like(q)
            gr = g._data if i == 1 else xp.zeros_like(r)
            if m >= n:
                return _wrap(_qr_square_grad(q, r, gq, gr, xp), g._device)
            # m < n: A = [X | Y] with X = Q U square; Y = Q V (PyTorch's split)
            y = A._data[..., m:]
            gx = _qr_square_grad(q, r[..., :m], gq + y @ _mT(gr[..., m:]), gr[..., :m], xp)
            return _wrap(xp.concatenate([gx, q @ gr[..., m:]], -1), g._device)
        return grad
    saved = (A,) if m < n else ()  # (the wide case's gradient reads A's trailing columns)
    outs = [record(x, A._device, (A,), 'LinalgQrBackward0', (grad_of(i),), saved, holds=True)
            for i, x in enumerate((q, r))]
    return _qr(*outs)


__all__ = ['LinAlgError', 'inv', 'inv_ex', 'det', 'slogdet', 'logdet', 'solve', 'solve_ex', 'solve_triangular',
           'triangular_solve', 'cholesky', 'cholesky_ex', 'cholesky_inverse', 'cholesky_solve', 'eigh', 'eigvalsh',
           'svd', 'svdvals', 'svd_legacy', 'qr']
