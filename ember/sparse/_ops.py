"""Sparse products (mm, addmm, matmul) and reductions/normalisations (sum, softmax, log_softmax)."""
from .._tensor import Tensor, _wrap
from .. import sparse as _sparse  # _engine through the package: tests swap ember.sparse._engine
from . import SparseTensor, _scatter_add


# ---- products -----------------------------------------------------------------------------------------------------
def _spmm(a, b):
    """sparse (n x m, 2 sparse dims) @ dense (m x k): one recorded node, gradients to b and to a's values."""
    from ..ops._util import record, same_device
    if not isinstance(b, Tensor):
        raise TypeError(f'mm(): argument \'mat2\' must be Tensor, not {type(b).__name__}')
    same_device(a, b, 'mm')
    if a._idx.shape[0] != 2 or len(a._sshape) != 2:
        raise RuntimeError(f'sparse.mm: expected a 2-D sparse matrix with scalar values, got shape '
                           f'{list(a._sshape)} with sparse_dim {a._idx.shape[0]}')
    if b.ndim not in (1, 2):
        raise RuntimeError(f'mat2 must be a matrix or vector, got a {b.ndim}-D tensor of shape {tuple(b.shape)}')
    if a._vals._data.dtype != b._data.dtype:
        raise RuntimeError(f'expected mat1 and mat2 to have the same dtype, but got: {a.dtype.name} != '
                           f'{b.dtype.name}')
    n, m = a._sshape
    if b.shape[0] != m:
        k = b.shape[1] if b.ndim == 2 else 1
        raise RuntimeError(f'mat1 and mat2 shapes cannot be multiplied ({n}x{m} and {b.shape[0]}x{k})')
    vec = b.ndim == 1
    if vec:
        b = b.reshape(m, 1)
    xp, dev = a._device.xp, a._device
    bd = b._data
    mat = _sparse._engine(dev)
    if mat is None:  # no SciPy: segment sums in NumPy
        out = xp.zeros((n, bd.shape[1]), dtype=bd.dtype)
        _scatter_add(xp, out, a._idx[0], a._vals._data[:, None] * bd[a._idx[1]])
    else:
        out = a._matrix() @ (bd.astype('float32') if bd.dtype.itemsize < 4 and bd.dtype.kind == 'f' else bd)
        out = xp.ascontiguousarray(xp.asarray(out), dtype=bd.dtype)
    rows, cols = _wrap(a._idx[0], dev), _wrap(a._idx[1], dev)
    vals = a._vals
    res = record(out, dev, (vals, b), 'SparseAddmmBackward0',
                 (lambda g: (g.index_select(0, rows) * b.index_select(0, cols)).sum(1),
                  lambda g: _spmm(a.t(), g)), (vals, b))
    return res.reshape(n) if vec else res


def _sparse_sparse(a, b):
    if a.requires_grad or b.requires_grad:
        raise NotImplementedError('ember: sparse @ sparse has no autograd; convert one operand with to_dense()')
    if len(a._sshape) != 2 or len(b._sshape) != 2 or a._sshape[1] != b._sshape[0]:
        raise RuntimeError(f'mat1 and mat2 shapes cannot be multiplied ({"x".join(map(str, a._sshape))} and '
                           f'{"x".join(map(str, b._sshape))})')
    if _sparse._engine(a._device) is None:
        return (a.to_dense() @ b.to_dense()).to_sparse()
    c = (a._matrix() @ b._matrix()).tocoo()
    xp = a._device.xp
    c.sum_duplicates()
    idx = xp.stack([xp.asarray(c.row), xp.asarray(c.col)]).astype(xp.int64)
    vals = _wrap(xp.asarray(c.data).astype(a._vals._data.dtype), a._device)
    return SparseTensor._make(idx, vals, (a._sshape[0], b._sshape[1]), True)


def mm(mat1, mat2):
    """sparse @ dense -> dense (gradients to the dense operand and the sparse values); dense @ sparse -> dense;
    sparse @ sparse -> sparse (no autograd)."""
    s1, s2 = isinstance(mat1, SparseTensor), isinstance(mat2, SparseTensor)
    if s1 and s2:
        return _sparse_sparse(mat1, mat2)
    if s1:
        return _spmm(mat1, mat2)
    if s2:
        if mat1.ndim == 1:
            return _spmm(mat2.t(), mat1)
        return _spmm(mat2.t(), mat1.t()).t()
    from ..ops.linalg import mm as dense_mm
    return dense_mm(mat1, mat2)


spmm = mm


def matmul(a, b):
    """``@`` with a sparse operand: 2-D sparse matrices times dense matrices or vectors."""
    if isinstance(a, SparseTensor) or isinstance(b, SparseTensor):
        return mm(a, b)
    from ..ops.linalg import matmul as dense_matmul
    return dense_matmul(a, b)


def addmm(mat, mat1, mat2, *, beta=1.0, alpha=1.0):
    """beta * mat + alpha * (mat1 @ mat2) with mat1 sparse."""
    out = mm(mat1, mat2)
    if alpha != 1:
        out = out * alpha
    if isinstance(mat, SparseTensor):
        mat = mat.to_dense()
    return out + (mat * beta if beta != 1 else mat)


# ---- reductions and normalisations --------------------------------------------------------------------------------
def sum(input, dim=None, dtype=None):
    """Sum of a sparse tensor: a dense 0-d tensor over all dims; over some dims, sparse while sparse dims remain."""
    if not isinstance(input, SparseTensor):
        return input.sum(dim) if dtype is None else input.sum(dim, dtype=dtype)
    vals = input._vals if dtype is None else input._vals.to(dtype)
    if dim is None:
        return vals.sum()
    from ..ops._util import norm_dims
    dims = norm_dims(dim, input.ndim)
    nsd = input._idx.shape[0]
    sdims = [d for d in dims if d < nsd]
    ddims = tuple(d - nsd + 1 for d in dims if d >= nsd)
    if ddims:
        vals = vals.sum(ddims)
    keep = [d for d in range(nsd) if d not in sdims]
    shape = tuple(input._sshape[d] for d in keep) + tuple(s for d, s in enumerate(input._sshape)
                                                          if d >= nsd and d not in dims)
    if not keep:
        return vals.sum(0)
    idx = input._idx[keep]
    return SparseTensor._make(idx, vals, shape, False).coalesce()


def _row_groups(input, dim, who):
    if not isinstance(input, SparseTensor) or input._idx.shape[0] != 2 or input.ndim != 2:
        raise NotImplementedError(f'ember.sparse.{who}: supported for 2-D sparse matrices with scalar values')
    from ..ops._util import norm_dim
    d = norm_dim(dim, 2)
    c = input.coalesce()
    return c, c._idx[1 - d], c._sshape[1 - d]


def softmax(input, dim, dtype=None):
    """Softmax over the specified entries along ``dim`` (unspecified entries count as -inf, as PyTorch's)."""
    c, grp, n = _row_groups(input, dim, 'softmax')
    vals = c._vals if dtype is None else c._vals.to(dtype)
    e = _group_exp(vals, grp, n)
    s = _group_sum(e, grp, n)
    return c._same_pattern(e / s.index_select(0, _wrap(grp, c._device)))


def log_softmax(input, dim, dtype=None):
    c, grp, n = _row_groups(input, dim, 'log_softmax')
    vals = c._vals if dtype is None else c._vals.to(dtype)
    e = _group_exp(vals, grp, n)
    s = _group_sum(e, grp, n)
    g = _wrap(grp, c._device)
    shifted = vals - _wrap(_group_max(vals, grp, n), c._device).index_select(0, g)
    return c._same_pattern(shifted - s.log().index_select(0, g))


def _group_max(vals, grp, n):
    xp = vals._device.xp
    m = xp.full((n,), -xp.inf, dtype=vals._data.dtype)
    if xp.__name__ == 'numpy':
        xp.maximum.at(m, grp, vals._data)
    else:
        import cupyx
        cupyx.scatter_max(m, grp, vals._data)
    return m


def _group_exp(vals, grp, n):
    m = _wrap(_group_max(vals, grp, n), vals._device)
    return (vals - m.index_select(0, _wrap(grp, vals._device))).exp()


def _group_sum(e, grp, n):
    from ..ops.index import index_add
    xp = e._device.xp
    return index_add(_wrap(xp.zeros((n,), dtype=e._data.dtype), e._device), 0, _wrap(grp, e._device), e)
