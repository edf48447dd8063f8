"""LU with partial pivoting (linalg.lu_factor, linalg.lu, lu_unpack, lu_solve) on SciPy's getrf, with gradients.

Backward (A = P L U): for square A, A_bar = P L^-H (tril(L^H L_bar, -1) + triu(U_bar U^H)) U^-H; a tall A first
moves the gradient of L's lower block into A's lower rows and U_bar, a wide A the gradient of U's right block into
A's right columns and L_bar (derived from L2 = A2 U^-1 and U2 = L^-1 A2).
"""
from collections import namedtuple

from .._dtype import int32
from ._util import record, _wrap
from .shape import tril, triu

_lu_factor = namedtuple('lu_factor', ['LU', 'pivots'])
_lu_factor_ex = namedtuple('lu_factor_ex', ['LU', 'pivots', 'info'])
_plu = namedtuple('lu', ['P', 'L', 'U'])
_lu_unpack = namedtuple('lu_unpack', ['P', 'L', 'U'])


def _getrf(A):
    """(packed LU, 1-based int32 pivots) for every matrix of a batch."""
    xp = A._device.xp
    try:
        if A._device.type == 'cuda':
            from cupyx.scipy.linalg import lu_factor as getrf
        else:
            from scipy.linalg import lu_factor as getrf
    except ImportError:
        raise ImportError("ember's LU factorisation needs SciPy: pip install scipy (it comes with the 'ember[train]', "
                          "'ember[test]' and 'ember[all]' extras)") from None
    m, n = A.shape[-2:]
    k = min(m, n)
    batch = tuple(A.shape[:-2])
    a = A._data.reshape((-1, m, n))
    lu = xp.empty(a.shape, a.dtype)
    piv = xp.empty((a.shape[0], k), int32.np)
    import warnings
    for i in range(a.shape[0] if m and n else 0):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # exactly singular matrices factor fine (a zero pivot in U)
            lu[i], p = getrf(a[i], check_finite=False)
        piv[i] = p[:k] + 1
    return lu.reshape(batch + (m, n)), piv.reshape(batch + (k,))


def _perm(piv, m, xp):
    """P (A = P L U) from LAPACK's sequential row swaps."""
    batch = piv.shape[:-1]
    p = piv.reshape(-1, piv.shape[-1]) - 1
    perms = xp.broadcast_to(xp.arange(m), (p.shape[0], m)).copy()
    for b in range(p.shape[0]):
        for i, j in enumerate(p[b].tolist()):
            perms[b, [i, j]] = perms[b, [j, i]]
    eye = xp.eye(m)
    return xp.swapaxes(eye[perms], -1, -2).reshape(batch + (m, m))


def _split(lu, xp):
    m, n = lu.shape[-2:]
    k = min(m, n)
    L = xp.tril(lu[..., :, :k], -1) + xp.eye(m, k, dtype=lu.dtype)
    U = xp.triu(lu[..., :k, :])
    return L, U


def _mH(x, xp):
    return xp.swapaxes(x, -1, -2)


def _lu_grad(P, L, U, gL, gU, xp):
    m, n = L.shape[-2], U.shape[-1]
    k = min(m, n)
    solve = xp.linalg.solve
    gL = xp.zeros(L.shape, L.dtype) if gL is None else gL
    gU = xp.zeros(U.shape, U.dtype) if gU is None else gU
    extra = None
    if m > n:  # L = [L1; L2], L2 = A2 U^-1
        L1, L2, gL1, gL2 = L[..., :k, :], L[..., k:, :], gL[..., :k, :], gL[..., k:, :]
        gA2 = _mH(solve(U, _mH(gL2, xp)), xp)             # gL2 U^-H
        gU = gU - _mH(solve(U, _mH(_mH(L2, xp) @ gL2, xp)), xp)
        L, gL, extra = L1, gL1, ('rows', gA2)
    elif m < n:  # U = [U1 | U2], U2 = L^-1 A2
        U1, U2, gU1, gU2 = U[..., :, :k], U[..., :, k:], gU[..., :, :k], gU[..., :, k:]
        gA2 = solve(_mH(L, xp), gU2)                      # L^-H gU2
        gL = gL - gA2 @ _mH(U2, xp)
        U, gU, extra = U1, gU1, ('cols', gA2)
    inner = xp.tril(_mH(L, xp) @ gL, -1) + xp.triu(gU @ _mH(U, xp))
    g = solve(_mH(L, xp), _mH(solve(U, _mH(inner, xp)), xp))  # L^-H inner U^-H
    if extra is not None:
        g = xp.concatenate([g, extra[1]], -2 if extra[0] == 'rows' else -1)
    return P @ g


def lu_factor(A, *, pivot=True, out=None):
    if not pivot:
        raise RuntimeError('linalg.lu_factor: LU without pivoting is not implemented on the CPU')
    if A.ndim < 2:
        raise RuntimeError(f'linalg.lu_factor: Expected tensor with 2 or more dimensions. Got size: '
                           f'{list(A.shape)} instead')
    xp = A._device.xp
    lu, piv = _getrf(A)
    L, U = _split(lu, xp)
    P = _perm(piv, A.shape[-2], xp).astype(lu.dtype)

    def grad(g):
        gd = g._data
        return _wrap(_lu_grad(P, L, U, xp.tril(gd[..., :, :L.shape[-1]], -1), xp.triu(gd[..., :U.shape[-2], :]),
                              xp), g._device)
    return _lu_factor(record(lu, A._device, (A,), 'LinalgLuFactorExBackward0', (grad,), holds=True),
                      _wrap(piv, A._device))


def lu_factor_ex(A, *, pivot=True, check_errors=False, out=None):
    LU, piv = lu_factor(A, pivot=pivot)
    xp = A._device.xp
    return _lu_factor_ex(LU, piv, _wrap(xp.zeros(A.shape[:-2], int32.np), A._device))


def lu(A, *, pivot=True, out=None):
    """A = P L U: P permutation, L unit lower trapezoidal, U upper trapezoidal."""
    if not pivot:
        raise RuntimeError('linalg.lu: LU without pivoting is not implemented on the CPU')
    xp = A._device.xp
    lu_, piv = _getrf(A)
    L, U = _split(lu_, xp)
    P = _perm(piv, A.shape[-2], xp).astype(lu_.dtype)
    outs = [_wrap(P, A._device)]
    for i, x in ((1, L), (2, U)):
        def grad(g, _i=i):
            return _wrap(_lu_grad(P, L, U, g._data if _i == 1 else None, g._data if _i == 2 else None, xp),
                         g._device)
        outs.append(record(x, A._device, (A,), 'LinalgLuBackward0', (grad,), holds=True))
    return _plu(*outs)


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    xp = LU_data._device.xp
    m, n = LU_data.shape[-2:]
    k = min(m, n)
    dt = LU_data._data.dtype
    if unpack_data:
        L = tril(LU_data[..., :, :k], -1) + _wrap(xp.eye(m, k, dtype=dt), LU_data._device)
        U = triu(LU_data[..., :k, :])
    else:
        L = U = _wrap(xp.zeros(0, dt), LU_data._device)
    if unpack_pivots:
        P = _wrap(_perm(LU_pivots._data, m, xp).astype(dt), LU_data._device)
    else:
        P = _wrap(xp.zeros(0, dt), LU_data._device)
    return _lu_unpack(P, L, U)


def lu_solve(LU, pivots, B, *, left=True, adjoint=False, out=None):
    """Solves A X = B (A^H X = B with adjoint; X A = B with left=False) from A's LU factorisation."""
    from .linalg_extra import solve_triangular
    P, L, U = lu_unpack(LU, pivots)
    if left and not adjoint:        # P L U X = B
        y = solve_triangular(L, P.mT @ B, upper=False, unitriangular=True)
        return solve_triangular(U, y, upper=True)
    if left:                        # U^H L^H P^T X = B
        y = solve_triangular(U.mT, B, upper=False)
        return P @ solve_triangular(L.mT, y, upper=True, unitriangular=True)
    if not adjoint:                 # X P L U = B
        y = solve_triangular(U, B, upper=True, left=False)
        return solve_triangular(L, y, upper=False, unitriangular=True, left=False) @ P.mT
    # X U^H L^H P^T = B
    y = solve_triangular(L.mT, B @ P, upper=True, unitriangular=True, left=False)
    return solve_triangular(U.mT, y, upper=False, left=False)


def lu_legacy(A, pivot=True, get_infos=False):
    """torch.lu: (LU, pivots[, infos])."""
    res = lu_factor_ex(A, pivot=pivot)
    return tuple(res) if get_infos else (res.LU, res.pivots)


def lu_solve_legacy(b, LU_data, LU_pivots):
    return lu_solve(LU_data, LU_pivots, b)
