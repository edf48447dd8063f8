"""ember.linalg: PyTorch's torch.linalg namespace; the composite functions here differentiate through ember's ops."""
import builtins
import math
from collections import namedtuple

from .ops.linalg_extra import (LinAlgError, inv, inv_ex, det, slogdet, solve, solve_ex, solve_triangular,  # noqa
                               cholesky, cholesky_ex, eigh, eigvalsh, svd, svdvals, qr, _square)
from .ops.linalg import matmul  # noqa: F401
from .ops.lu import lu_factor, lu_factor_ex, lu, lu_solve  # noqa: F401,E402
from .ops.linalg_eig import eig, eigvals  # noqa: F401
from .ops.lapack import householder_product, ldl_factor, ldl_factor_ex, ldl_solve  # noqa: F401,E402
from .ops.reduce import norm as _norm
from .ops.shape import diagonal as _diagonal
from .ops._util import Tensor, norm_dim

_lstsq = namedtuple('lstsq', ['solution', 'residuals', 'rank', 'singular_values'])


def _eye_like(A):
    from ._creation import eye
    n = A.shape[-1]
    return eye(n, dtype=A.dtype, device=A.device).expand(tuple(A.shape))


def matrix_power(A, n, *, out=None):
    _square(A, 'linalg.matrix_power') if A._data.dtype.kind == 'f' else None
    if n == 0:
        return A * 0 + _eye_like(A)
    if n < 0:
        A, n = inv(A), -n
    result, base = None, A
    while n:  # square-and-multiply
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


def multi_dot(tensors, *, out=None):
    if len(tensors) < 2:
        raise RuntimeError(f'multi_dot(): expected at least 2 tensors but got {len(tensors)}')
    first, last = tensors[0], tensors[-1]
    ts = list(tensors)
    if first.ndim == 1:
        ts[0] = first.unsqueeze(0)
    if last.ndim == 1:
        ts[-1] = last.unsqueeze(-1)
    out = ts[0]
    for t in ts[1:]:
        out = out @ t
    if first.ndim == 1:
        out = out.squeeze(0)
    if last.ndim == 1:
        out = out.squeeze(-1)
    return out


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    if dtype is not None:
        x = x.to(dtype)
    if isinstance(dim, int):
        dim = (dim,)
    if x._data.dtype.kind == 'c':  # the norm of the moduli (a real result)
        x = x.abs()
    if x._data.dtype.kind != 'f':
        raise RuntimeError(f'linalg.vector_norm: Expected a floating point or complex tensor as input. Got '
                           f'{x.dtype.name}')
    if ord in (math.inf, -math.inf):
        if x.numel() == 0 and (dim is None or any(x.shape[d] == 0 for d in dim)):
            raise RuntimeError(f'linalg.vector_norm cannot compute the {ord} norm on an empty tensor because the '
                               f'operation does not have an identity')
        a = x.abs()
        return a.amax(dim if dim is not None else (), keepdim) if ord > 0 else a.amin(
            dim if dim is not None else (), keepdim)
    if dim is None and not keepdim:
        x = x.reshape(-1)
    if ord == 0:  # a count: no gradient, but the result stays in the graph as in PyTorch
        return (x != 0).to(x.dtype).sum(dim, keepdim) + (x * 0).sum(dim, keepdim)
    if ord in (1, 2):
        return _norm(x, ord, dim, keepdim)
    return _pnorm(x, ord, dim, keepdim)


def _pnorm(x, p, dim, keepdim):
    """(sum |x|^p)^(1/p); its gradient sign(x) (|x| / norm)^(p-1) is 0 at x = 0 (PyTorch's subgradient), also
    for p < 1 where |x|^(p-1) is infinite there."""
    from .ops._util import norm_dims, record, _wrap
    xp = x._device.xp
    dims = norm_dims(dim, x.ndim)
    a = xp.abs(x._data)
    full = (a ** p).sum(axis=dims, keepdims=True) ** (1.0 / p)
    data = full if keepdim else full.reshape(tuple(n for i, n in enumerate(a.shape) if i not in dims))

    def grad(g):
        gd = g._data.reshape(full.shape)
        r = xp.where(a == 0, 0, xp.sign(x._data) * (a / xp.where(full == 0, 1, full)) ** (p - 1))
        return _wrap((gd * r).astype(a.dtype, copy=False), g._device)
    return record(data.astype(a.dtype, copy=False), x._device, (x,), 'LinalgVectorNormBackward0', (grad,),
                  holds=True)


def matrix_norm(A, ord='fro', dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    if dtype is not None:
        A = A.to(dtype)
    if A.ndim < 2:
        raise RuntimeError('linalg.matrix_norm: The input tensor A must have at least 2 dimensions.')
    d0, d1 = norm_dim(dim[0], A.ndim), norm_dim(dim[1], A.ndim)
    if ord == 'fro':
        return _norm(A, 2, (d0, d1), keepdim)
    if ord in ('nuc', 2, -2):
        Am = A.movedim((d0, d1), (-2, -1))
        s = svdvals(Am)
        r = s.sum(-1) if ord == 'nuc' else (s.amax(-1) if ord == 2 else s.amin(-1))
        if keepdim:
            for d in sorted((d0, d1)):
                r = r.unsqueeze(d)
        return r
    if ord in (1, -1, math.inf, -math.inf):
        sum_dim, red_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        s = A.abs().sum(sum_dim, keepdim=True)
        r = s.amax(red_dim, keepdim=True) if ord > 0 else s.amin(red_dim, keepdim=True)
        if not keepdim:
            r = r.squeeze((d0, d1)) if hasattr(r, 'squeeze') else r
        return r
    raise RuntimeError(f'linalg.matrix_norm: Order {ord} not supported.')


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(A, 'fro', dim, keepdim, dtype=dtype)
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim == 1:
            return vector_norm(A, ord, None, keepdim, dtype=dtype)
        if A.ndim == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        raise RuntimeError(f'linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got '
                           f'{A.ndim}D.')
    if len(dim) == 2:
        return matrix_norm(A, ord, dim, keepdim, dtype=dtype)
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


def cond(A, p=None, *, out=None):
    if p in (None, 2, -2):
        s = svdvals(A)
        return s.amax(-1) / s.amin(-1) if p != -2 else s.amin(-1) / s.amax(-1)
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


def cross(input, other, *, dim=-1, out=None):
    shape = tuple(__import__('numpy').broadcast_shapes(tuple(input.shape), tuple(other.shape)))
    a, b = input.expand(shape), other.expand(shape)
    d = norm_dim(dim, len(shape))
    if shape[d] != 3:
        raise RuntimeError(f'linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[d]} and '
                           f'{other.shape[d]}')
    a0, a1, a2 = a.unbind(d)
    b0, b1, b2 = b.unbind(d)
    from .ops.shape import stack
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def vecdot(x, y, *, dim=-1, out=None):
    return (x * y).sum(dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    return _diagonal(A, offset, dim1, dim2)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False, tol=None, out=None):
    xp = A._device.xp
    s = xp.linalg.svd(A._data, compute_uv=False) if A._data.size else xp.zeros(tuple(A.shape[:-2]) + (0,),
                                                                                A._data.dtype)
    if tol is not None:
        atol, rtol = tol, 0.0
    smax = s.max(-1, keepdims=True) if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,), s.dtype)
    at = 0.0 if atol is None else (atol._data[..., None] if isinstance(atol, Tensor) else atol)
    if rtol is None:
        rt = max(A.shape[-2:]) * xp.finfo(A._data.dtype).eps if atol is None or (not isinstance(atol, Tensor)
                                                                                 and atol <= 0) else 0.0
    else:
        rt = rtol._data[..., None] if isinstance(rtol, Tensor) else rtol
    thresh = xp.maximum(at, rt * smax)
    from .ops._util import _wrap
    return _wrap((s > thresh).sum(-1).astype('int64'), A._device)


def pinv(A, *, atol=None, rtol=None, hermitian=False, rcond=None, out=None):
    """Moore-Penrose pseudo-inverse from the SVD, singular values below max(atol, rtol * largest) dropped. Gradient
    (Golub & Pereyra, valid while the rank is locally constant):
    A_bar = -X^T G X^T + (I - A X) G^T X X^T + X^T X G^T (I - X A)."""
    from .ops._util import record_with_output
    if A.ndim < 2:
        raise RuntimeError('linalg.pinv(A): The input tensor A must have at least 2 dimensions.')
    if rcond is not None:
        rtol = rcond
    xp = A._device.xp
    m, n = A.shape[-2:]
    a = A._data
    Aeff = A
    if hermitian:  # only the lower triangle is read; the gradient is PyTorch's, taken at the symmetric matrix
        a = xp.tril(a) + xp.swapaxes(xp.tril(a, -1), -1, -2)
        from .ops._util import _wrap
        Aeff = _wrap(a, A._device)
    if a.size == 0:
        data = xp.zeros(a.shape[:-2] + (n, m), a.dtype)
    else:
        u, s, vh = xp.linalg.svd(a, full_matrices=False)
        at = 0.0 if atol is None else (atol._data[..., None] if isinstance(atol, Tensor) else atol)
        if rtol is None:
            rt = max(m, n) * xp.finfo(a.dtype).eps if atol is None or (not isinstance(atol, Tensor) and atol <= 0) \
                else 0.0
        else:
            rt = rtol._data[..., None] if isinstance(rtol, Tensor) else rtol
        keep = s > xp.maximum(at, rt * s.max(-1, keepdims=True))
        sinv = xp.where(keep, 1 / xp.where(keep, s, 1), 0).astype(a.dtype)
        data = (xp.swapaxes(vh, -1, -2) * sinv[..., None, :]) @ xp.swapaxes(u, -1, -2)

    def make(X):
        def grad(g):
            x = X()
            xt, gt = x.mT, g.mT
            eye_m, eye_n = _eye_like(Aeff @ x), _eye_like(x @ Aeff)
            return -(xt @ g @ xt) + (eye_m - Aeff @ x) @ gt @ x @ xt + xt @ x @ gt @ (eye_n - x @ Aeff)
        return (grad,)
    return record_with_output(data.astype(a.dtype, copy=False), A._device, (A,), 'LinalgPinvBackward0', make, (A,))


def vander(x, N=None):
    if x.ndim == 0:
        x = x.reshape(1)
    n = x.shape[-1] if N is None else N
    if n < 0:
        raise RuntimeError('N must be non-negative.')
    if n == 0:
        return x.unsqueeze(-1)[..., :0]
    from .ops.reduce import cumprod
    ones = (x.unsqueeze(-1) * 0 + 1)
    if n == 1:
        return ones
    rep = x.unsqueeze(-1).expand(tuple(x.shape) + (n - 1,))
    return __import__('ember').cat([ones, cumprod(rep, -1)], -1)


def tensorinv(A, ind=2, *, out=None):
    out_shape = tuple(A.shape[ind:]) + tuple(A.shape[:ind])
    rows = math.prod(A.shape[:ind])
    return inv(A.reshape(rows, -1)).reshape(out_shape)


def tensorsolve(A, B, dims=None, *, out=None):
    if dims is not None:
        nd = A.ndim
        dims = [d % nd for d in dims]
        A = A.movedim(dims, list(range(nd - len(dims), nd)))
    rest = tuple(A.shape[B.ndim:])
    return solve(A.reshape(B.numel(), -1), B.reshape(-1)).reshape(rest)


def lstsq(A, B, rcond=None, *, driver=None):
    """Least squares through the pseudo-inverse; residuals, rank and singular values as PyTorch's CPU drivers give
    them (residuals only for gelsd/gelss/gels with a tall full-rank A, rank not for gels, singular values for
    gelsd/gelss)."""
    if driver not in (None, 'gelsy', 'gelsd', 'gelss', 'gels'):
        raise RuntimeError("torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    X = pinv(A, rtol=rcond) @ Bm
    from ._creation import zeros
    empty = zeros(0, dtype=A.dtype, device=A.device)
    m, n = A.shape[-2:]
    residuals = A.reshape(-1)[:0] * 0  # empty, but (as in PyTorch) an output of the differentiable op
    if driver not in (None, 'gelsy') and m > n and A.numel() and bool((matrix_rank(A) == n).all()):
        residuals = ((A @ X - Bm) ** 2).sum(-2)
        residuals = residuals.squeeze(-1) if vector else residuals
    rank = matrix_rank(A) if driver != 'gels' else zeros(0, dtype='int64', device=A.device)
    sv = svdvals(A).detach() if driver in ('gelsd', 'gelss') else empty
    return _lstsq(X.squeeze(-1) if vector else X, residuals, rank, sv)


def matrix_exp(A):
    """exp(A): SciPy's Pade approximant on cpu, a scaled-and-squared Taylor polynomial in ember ops elsewhere. The
    gradient is the top-right block of exp([[A^T, G], [0, A^T]]) (Najfeld & Havel), itself differentiable."""
    _square(A, 'linalg.matrix_exp')
    if A.numel() == 0:
        return A.clone()
    if A._device.type == 'cpu':
        try:
            from scipy.linalg import expm
        except ImportError:
            raise ImportError("ember's matrix_exp needs SciPy: pip install scipy (it comes with the 'ember[train]', "
                              "'ember[test]' and 'ember[all]' extras)") from None
        from .ops._util import record
        # in double precision: SciPy's float32 Pade/squaring loses ~1e-6 relative per squaring, visibly more than
        # PyTorch's float32 kernel; the result is cast back to A's dtype
        data = expm(A._data.astype('float64')).astype(A._data.dtype, copy=False)

        def grad(g):
            from .ops.shape import cat
            n, At = A.shape[-1], A.mT
            block = cat([cat([At, g], -1), cat([At * 0, At], -1)], -2)
            return matrix_exp(block)[..., :n, n:]
        return record(data, A._device, (A,), 'LinalgMatrixExpBackward0', (grad,), (A,))
    nrm = float(A.detach().abs().sum(-2).amax())
    s = builtins.max(0, int(math.ceil(math.log2(nrm))) + 1) if nrm > 0.5 else 0
    X = A / (2 ** s)
    eye = _eye_like(A)
    term, result = eye, eye
    for k in range(1, 19):
        term = term @ X / k
        result = result + term
    for _ in range(s):
        result = result @ result
    return result


# ---- the older top-level forms (torch.cholesky, torch.qr, torch.pinverse, torch.cross) ---------------------------

def _cholesky_legacy(input, upper=False):
    return cholesky(input, upper=upper)


def _qr_legacy(input, some=True):
    return qr(input, 'reduced' if some else 'complete')


def _pinverse_legacy(input, rcond=1e-15):
    return pinv(input, rtol=rcond)


def _cross_legacy(input, other, dim=None):
    if dim is None:  # PyTorch's deprecated default: the first dim of size 3
        shape = tuple(builtins.max(a, b) for a, b in zip((1,) * (other.ndim - input.ndim) + tuple(input.shape),
                                                         (1,) * (input.ndim - other.ndim) + tuple(other.shape)))
        dim = next((i for i, n in enumerate(shape) if n == 3), -1)
    return cross(input, other, dim=dim)
