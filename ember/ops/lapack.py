"""LAPACK's compact formats: geqrf, ormqr, linalg.householder_product (Householder QR) and linalg.ldl_* (sytrf).

geqrf comes from the array module's raw QR (NumPy and CuPy both return LAPACK's geqrf output, transposed), so the
packed reflectors and tau are LAPACK's exactly. householder_product and ormqr apply the reflectors
H_i = I - tau_i v_i v_i^T one by one with tensor ops, so their gradients (and higher ones) come from autograd on any
device. The LDL^T factorisation (Bunch-Kaufman) and its solve use SciPy's sytrf/sytrs on the cpu; CuPy has neither.
"""
import math
from collections import namedtuple

from .._dtype import int32, SCALAR_NAMES
from ._util import Tensor, record, _wrap
from .linalg_extra import square_matrices

_geqrf = namedtuple('geqrf', ['a', 'tau'])
_ldl = namedtuple('linalg_ldl_factor', ['LD', 'pivots'])
_ldl_ex = namedtuple('linalg_ldl_factor_ex', ['LD', 'pivots', 'info'])


def _tname(t):
    return SCALAR_NAMES.get(t.dtype.name, t.dtype.name)


def _need_float(t, op):
    if t._data.dtype.kind != 'f':
        raise RuntimeError(f'{op}: Expected a floating point or complex tensor as input. Got {_tname(t)}')


def _no_derivative(name):
    def fn(g):
        if name == 'geqrf':
            raise NotImplementedError("the derivative for 'geqrf' is not implemented.")
        raise RuntimeError(f'derivative for aten::{name} is not implemented')
    return fn


def _write_out(name, res, out):
    """PyTorch's out=: the results' values written into the given tensors (resized when their shape differs)."""
    if out is None:
        return res
    many = isinstance(res, tuple)
    results, outs = (res, tuple(out)) if many else ((res,), (out,))
    if len(outs) != len(results) or not all(isinstance(o, Tensor) for o in outs):
        raise TypeError(f"{name}(): argument 'out' must be " + (f'tuple of {len(results)} Tensors' if many else
                                                                 'Tensor'))
    if any(r.requires_grad for r in results):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic differentiation, but "
                           f"one of the arguments requires grad.")
    for r, o in zip(results, outs):
        if tuple(o.shape) != tuple(r.shape):
            o._data = o._device.xp.empty(tuple(r.shape), o._data.dtype)
        o._device.xp.copyto(o._data, r._data, casting='unsafe')
        o._bump()
    return type(res)(*outs) if many else out


# ---- geqrf ------------------------------------------------------------------------------------------------------
def geqrf(input, *, out=None):
    """(a, tau): R on and above the diagonal of ``a``, the Householder vectors below it (LAPACK's geqrf)."""
    A = input
    if A.ndim < 2:
        raise RuntimeError('torch.geqrf: input must have at least 2 dimensions.')
    if A._data.dtype.kind != 'f':
        raise NotImplementedError(f'"geqrf_{A._device.type}" not implemented for \'{_tname(A)}\'')
    xp = A._device.xp
    m, n = A.shape[-2:]
    k = min(m, n)
    dt = A._data.dtype
    batch = tuple(A.shape[:-2])
    if k == 0 or A.numel() == 0:
        a, tau = A._data.copy(), xp.zeros(batch + (k,), dt)
    else:
        if A._device.type == 'cpu':  # h: the packed factor, transposed (Fortran order)
            h, tau = xp.linalg.qr(A._data, mode='raw')
        else:  # (CuPy's raw QR takes one matrix at a time)
            parts = [xp.linalg.qr(mat, mode='raw') for mat in A._data.reshape((-1, m, n))]
            h = xp.stack([p[0] for p in parts]).reshape(batch + (n, m))
            tau = xp.stack([p[1] for p in parts]).reshape(batch + (k,))
        a, tau = xp.ascontiguousarray(xp.swapaxes(h, -1, -2)).astype(dt, copy=False), tau.astype(dt, copy=False)
    fns = (_no_derivative('geqrf'),)
    res = _geqrf(record(a, A._device, (A,), 'GeqrfBackward0', fns), record(tau, A._device, (A,), 'GeqrfBackward0',
                                                                           fns))
    return _write_out('geqrf', res, out)


# ---- Householder reflectors as tensor ops -------------------------------------------------------------------------
def _none(g):
    return None


def _reflector(A, i):
    """v_i: column i of A below the diagonal, 1 on it, 0 above (as a tensor op of A, so differentiable)."""
    xp = A._device.xp
    rows = A.shape[-2]
    below = _wrap(xp.arange(rows) > i, A._device)
    unit = _wrap((xp.arange(rows) == i).astype(A._data.dtype), A._device)
    return A[..., :, i] * below + unit


def householder_product(input, tau, *, out=None):
    """Q's first n columns, Q = H_0 H_1 ... H_{k-1} (LAPACK's orgqr), from geqrf's compact form."""
    A = input
    op = 'torch.linalg.householder_product'
    if not isinstance(A, Tensor) or not isinstance(tau, Tensor):
        bad, pos, obj = ('input', 1, A) if not isinstance(A, Tensor) else ('tau', 2, tau)
        raise TypeError(f"linalg_householder_product(): argument '{bad}' (position {pos}) must be Tensor, not "
                        f'{type(obj).__name__}')
    if A.ndim < 2:
        raise RuntimeError(f'{op}: input must have at least 2 dimensions.')
    m, n = A.shape[-2:]
    if m < n:
        raise RuntimeError(f'{op}: input.shape[-2] must be greater than or equal to input.shape[-1]')
    if n < tau.shape[-1] if tau.ndim else False:
        raise RuntimeError(f'{op}: input.shape[-1] must be greater than or equal to tau.shape[-1]')
    if tau.ndim != A.ndim - 1:
        raise RuntimeError(f'{op}: Expected tau to have one dimension less than input, but got tau.ndim equal to '
                           f'{tau.ndim} and input.ndim is equal to {A.ndim}')
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(f'{op}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got '
                           f'{list(tau.shape[:-1])}')
    if tau.dtype != A.dtype:
        raise RuntimeError(f'{op}: tau dtype {_tname(tau)} does not match input dtype {_tname(A)}')
    if A._data.dtype.kind != 'f':
        raise NotImplementedError(f'"orgqr_{A._device.type}" not implemented for \'{_tname(A)}\'')
    xp = A._device.xp
    Q = _wrap(xp.broadcast_to(xp.eye(m, n, dtype=A._data.dtype), tuple(A.shape)).copy(), A._device)
    for i in reversed(range(tau.shape[-1])):
        v = _reflector(A, i)[..., :, None]
        Q = Q - tau[..., i, None, None] * v * (v.mT @ Q)
    if not tau.shape[-1]:  # no reflectors: in the graph, as in PyTorch, but sending no gradient to A or tau
        Q = record(Q._data, A._device, (A, tau), 'LinalgHouseholderProductBackward0', (_none, _none))
    return _write_out('linalg_householder_product', Q, out)


def ormqr(input, input2, input3, left=True, transpose=False, *, out=None):
    """op(Q) @ C (left) or C @ op(Q), op = transpose or identity, Q = H_0 ... H_{k-1} from geqrf's (input, tau =
    input2); C = input3 (PyTorch documents input2/input3 as tau/other, and takes these names as keywords)."""
    A, tau, C = input, input2, input3
    if A.ndim < 2:
        raise RuntimeError('torch.ormqr: input must have at least 2 dimensions.')
    if C.ndim < 2:
        raise RuntimeError('torch.ormqr: other must have at least 2 dimensions.')
    side = -2 if left else -1
    k = tau.shape[-1] if tau.ndim else 0
    if C.ndim != A.ndim:
        raise RuntimeError(f'torch.ormqr: Expected other to have the same number of dimensions as input, but got '
                           f'other.ndim equal to {C.ndim} and input.ndim is equal to {A.ndim}')
    if tau.ndim != A.ndim - 1:
        raise RuntimeError(f'torch.ormqr: Expected tau to have one dimension less than input, but got tau.ndim '
                           f'equal to {tau.ndim} and input.ndim is equal to {A.ndim}')
    if C.shape[side] != A.shape[-2]:
        raise RuntimeError(f'torch.ormqr: other.shape[{side}] must be equal to input.shape[-2]')
    if k != min(C.shape[side], A.shape[-1]):
        raise RuntimeError(f'torch.ormqr: tau.shape[-1] must be equal to min(other.shape[{side}], input.shape[-1])')
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(f'torch.ormqr: Expected batch dimensions of tau to be equal to input.shape[:-2], but got '
                           f'{list(tau.shape[:-1])}')
    if tuple(C.shape[:-2]) != tuple(A.shape[:-2]):
        raise RuntimeError(f'torch.ormqr: Expected batch dimensions of other to be equal to input.shape[:-2], but '
                           f'got {list(C.shape[:-2])}')
    if tau.dtype != A.dtype:
        raise RuntimeError(f'torch.ormqr: Expected input and tau to have the same dtype, but input has dtype'
                           f'{_tname(A)} and tau has dtype {_tname(tau)}')
    if C.dtype != A.dtype:
        raise RuntimeError(f'torch.ormqr: Expected input and other to have the same dtype, but input has dtype'
                           f'{_tname(A)} and other has dtype {_tname(C)}')
    if A._data.dtype.kind != 'f':
        raise NotImplementedError(f'"ormqr_{A._device.type}" not implemented for \'{_tname(A)}\'')
    # Q C applies H_{k-1} first; Q^T C applies H_0 first; C Q applies H_0 first; C Q^T applies H_{k-1} first
    order = range(k) if left == transpose else reversed(range(k))
    out_ = C
    for i in order:
        v = _reflector(A, i)[..., :, None]
        t = tau[..., i, None, None]
        out_ = out_ - t * v * (v.mT @ out_) if left else out_ - t * (out_ @ v) * v.mT
    return _write_out('ormqr', out_ if k else C.clone(), out)


# ---- LDL^T (Bunch-Kaufman) ----------------------------------------------------------------------------------------
def _lapack(A, name, op):
    if A._device.type != 'cpu':
        raise RuntimeError(f'{op}: not available for {A._device.type} tensors in ember (CuPy has no LAPACK {name}); '
                           f'move the tensors to the cpu')
    try:
        from scipy.linalg import lapack
    except ImportError:
        raise ImportError(f"ember's {op} needs SciPy: pip install scipy (it comes with the 'ember[train]', "
                          "'ember[test]' and 'ember[all]' extras)") from None
    return getattr(lapack, ('s' if A._data.dtype.itemsize == 4 else 'd') + name)


def _square(A, op):
    square_matrices(A, op)
    _need_float(A, op)


def ldl_factor_ex(input, *, hermitian=False, check_errors=False, out=None):
    """(LD, pivots, info): LAPACK sytrf's lower factorisation A = L D L^T, L unit lower and D 1x1/2x2 blocks; LD
    holds D's blocks and L below them (upper triangle zero), pivots are 1-based, negative for a 2x2 block."""
    op = 'torch.linalg.ldl_factor_ex'
    A = input
    _square(A, op)
    xp = A._device.xp
    n = A.shape[-1]
    batch = tuple(A.shape[:-2])
    a = A._data.reshape((math.prod(batch), n, n))
    LD = xp.zeros(a.shape, a.dtype)
    piv = xp.zeros((a.shape[0], n), int32.np)
    info = xp.zeros(a.shape[0], int32.np)
    if n and a.shape[0]:
        sytrf = _lapack(A, 'sytrf', op)
        for b in range(a.shape[0]):
            ldu, p, inf = sytrf(a[b], lower=1)
            LD[b], piv[b], info[b] = xp.tril(ldu), p, inf
    if check_errors and int(info.max(initial=0)) > 0:
        raise RuntimeError(f'{op}: The factorization could not be completed because the input is singular '
                           f'(info = {int(info.max())}).')
    fns = (_no_derivative('linalg_ldl_factor_ex'),)
    res = _ldl_ex(record(LD.reshape(batch + (n, n)), A._device, (A,), 'torch::autograd::NotImplemented', fns),
                  _wrap(piv.reshape(batch + (n,)), A._device), _wrap(info.reshape(batch), A._device))
    return _write_out('linalg_ldl_factor_ex', res, out)


def ldl_factor(input, *, hermitian=False, out=None):
    """(LD, pivots) of ldl_factor_ex; a singular D fails as in PyTorch (whose message is its LAPACK code)."""
    LD, piv, info = ldl_factor_ex(input, hermitian=hermitian)
    if info.numel() and int(info.max()) > 0:
        raise RuntimeError(f'torch.linalg.ldl_factor: Unknown error code: {int(info.max())}.')
    return _write_out('linalg_ldl_factor', _ldl(LD, piv), out)


def _broadcast_shapes(a, b):
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        raise RuntimeError(f'The size of tensor a must match the size of tensor b: batch shapes {list(a)} and '
                           f'{list(b)} do not broadcast')
    return tuple(max(x, y) if 0 not in (x, y) else 0 for x, y in zip(a, b))


def ldl_solve(LD, pivots, B, *, hermitian=False, out=None):
    """X with A X = B from ldl_factor's (LD, pivots) (LAPACK sytrs); batch dimensions broadcast."""
    op = 'torch.linalg.ldl_solve'
    _square(LD, op)
    if B.ndim < 2:
        raise IndexError(f'Dimension out of range (expected to be in range of [-{max(B.ndim, 1)}, '
                         f'{max(B.ndim, 1) - 1}], but got -2)')
    if pivots._data.dtype.kind not in 'iu':
        raise RuntimeError(f'{op}: Expected pivots to be integers. Got {_tname(pivots)}')
    if B.dtype != LD.dtype:
        raise RuntimeError(f'Expected b and A to have the same dtype, but found b of type {_tname(B)} and A of type '
                           f'{_tname(LD)} instead.')
    if tuple(pivots.shape) != tuple(LD.shape[:-1]):
        raise RuntimeError(f'{op}: Expected LD.shape[:-1] and pivots.shape to be the same, but got pivots with '
                           f'shape {list(pivots.shape)} instead')
    n = LD.shape[-1]
    if B.shape[-2] != n:
        raise RuntimeError(f'Incompatible matrix sizes for {op}: each A matrix is {n} by {n} but each b matrix is '
                           f'{B.shape[-2]} by {B.shape[-1]}')
    xp = LD._device.xp
    batch = _broadcast_shapes(tuple(LD.shape[:-2]), tuple(B.shape[:-2]))
    nb = math.prod(batch)
    ld = xp.broadcast_to(LD._data, batch + (n, n)).reshape((nb, n, n))
    pv = xp.broadcast_to(pivots._data, batch + (n,)).reshape((nb, n))
    b = xp.broadcast_to(B._data, batch + tuple(B.shape[-2:])).reshape((nb,) + tuple(B.shape[-2:]))
    X = xp.zeros(b.shape, B._data.dtype)
    if X.size:
        sytrs = _lapack(LD, 'sytrs', op)
        for i in range(b.shape[0]):
            X[i] = sytrs(ld[i], pv[i].astype(int32.np), b[i], lower=1)[0]
    fns = (_no_derivative('linalg_ldl_solve'),) * 3
    X = record(X.reshape(batch + tuple(B.shape[-2:])), B._device, (LD, None, B), 'torch::autograd::NotImplemented', fns)
    return _write_out('linalg_ldl_solve', X, out)
