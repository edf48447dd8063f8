"""torch.svd_lowrank and torch.pca_lowrank: randomized low-rank SVD (Halko, Martinsson, Tropp 2009), tensor ops only.

The method is the published one (Algorithm 4.4's subspace iteration for the basis, then Algorithm 5.1); the random
test matrix is one standard normal (n, q) draw in the input's dtype, as PyTorch draws it (measured: with the same
seed the factors agree), so a seeded call gives PyTorch's values. Written with differentiable tensor ops, so
gradients flow through the QR and SVD steps as in PyTorch.
"""
from ._util import Tensor


def _mh(x):
    return x.mT.conj() if x.is_complex() else x.mT


def _basis(A, q, niter, M):
    """An orthonormal (m, q) basis approximating A's (or A - M's) range: a randomized subspace iteration."""
    from .._sampling import randn
    from .linalg_extra import qr
    R = randn(A.shape[-1], q, dtype=A.dtype, device=A.device)
    X = A @ R if M is None else A @ R - M @ R
    Q = qr(X).Q
    for _ in range(niter):
        X = _mh(A) @ Q if M is None else _mh(A) @ Q - _mh(M) @ Q
        Q = qr(X).Q
        X = A @ Q if M is None else A @ Q - M @ Q
        Q = qr(X).Q
    return Q


def _lowrank(A, q, niter, M):
    from .linalg_extra import svd
    m, n = A.shape[-2:]
    if m < n:  # a wide matrix: the basis of A^H's range (measured: PyTorch's draws and factors then agree)
        At, Mt = _mh(A), None if M is None else _mh(M)
        Q = _basis(At, q, niter, Mt)
        B = _mh(Q) @ At if M is None else _mh(Q) @ At - _mh(Q) @ Mt
        U, S, Vh = svd(B, full_matrices=False)
        return _mh(Vh), S, Q @ U
    Q = _basis(A, q, niter, M)
    B = _mh(Q) @ A if M is None else _mh(Q) @ A - _mh(Q) @ M
    U, S, Vh = svd(B, full_matrices=False)
    return Q @ U, S, _mh(Vh)


def svd_lowrank(A, q=6, niter=2, M=None):
    """(U, S, V) with A (or A - M) ~= U diag(S) V^H, of rank ``q``, by a randomized method."""
    if not isinstance(A, Tensor):
        raise TypeError(f'svd_lowrank(): argument \'A\' must be Tensor, not {type(A).__name__}')
    q = 6 if q is None else int(q)
    if M is not None:
        M = M.expand(A.shape)
    return _lowrank(A, q, int(niter), M)


def pca_lowrank(A, q=None, center=True, niter=2):
    """(U, S, V) of a principal component analysis of A's rows (centered by column means unless ``center=False``)."""
    if not isinstance(A, Tensor):
        raise TypeError(f'pca_lowrank(): argument \'A\' must be Tensor, not {type(A).__name__}')
    m, n = A.shape[-2:]
    q = min(6, m, n) if q is None else int(q)
    if not 0 <= q <= min(m, n):
        raise ValueError(f'q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}')
    if not niter >= 0:
        raise ValueError(f'niter(={niter}) must be non-negative integer')
    if not center:
        return _lowrank(A, q, int(niter), None)
    C = A.mean(dim=-2, keepdim=True)
    return _lowrank(A - C, q, int(niter), None)
