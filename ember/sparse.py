"""Sparse COO tensors (ember.sparse_coo_tensor, Tensor.to_sparse) and their products, on scipy/cupyx sparse."""
import builtins
import sys

from ._tensor import Tensor, Size, _wrap
from ._dtype import to_dtype, from_np
from .backends import get_device, cpu

__all__ = ['SparseTensor', 'sparse_coo_tensor', 'mm', 'spmm', 'addmm', 'sum', 'softmax', 'log_softmax',
           'to_sparse', 'FloatTensor', 'DoubleTensor', 'HalfTensor', 'LongTensor', 'IntTensor', 'ByteTensor',
           'BoolTensor', 'check_sparse_tensor_invariants']

_PKG = __file__.rsplit('/', 1)[0]


def _engine(device):
    """The sparse-matrix module of a device: scipy.sparse on cpu (None when SciPy is absent), cupyx on cuda."""
    if device.type == 'cpu':
        try:
            import scipy.sparse as sps
        except ImportError:
            return None
        return sps
    import cupyx.scipy.sparse as sps
    return sps


def _scatter_add(xp, out, index, values):
    """out[index] += values with repeated indices summed (numpy's add.at; cupyx.scatter_add on cuda)."""
    if xp.__name__ == 'numpy':
        xp.add.at(out, index, values)
    else:
        import cupyx
        cupyx.scatter_add(out, index, values)


def _ember_op_name():
    """The public ember function the user called (the outermost ember frame): for the 'no dense op' error."""
    f, name = sys._getframe(2), None
    while f is not None:
        if f.f_code.co_filename.startswith(_PKG):
            name = f.f_code.co_name
        f = f.f_back
    return name or 'this operation'


class SparseTensor(Tensor):
    """A sparse COO tensor: ``indices`` (sparse_dim x nnz, int64) and ``values`` (nnz x dense dims).

    Autograd flows through ``values`` (an ordinary tensor); dense ops that have no sparse rule raise, naming the op.
    """
    __slots__ = ('_idx', '_vals', '_sshape', '_coal', '_leaf', '_csr_cache', '_tcache')

    @property
    def _data(self):
        raise RuntimeError(f'{_ember_op_name()}(): not supported for sparse tensors (layout sparse_coo); ember '
                           f'supports to_dense, coalesce, indices/values, t/transpose, sparse.mm/matmul/@, '
                           f'sparse.sum, sparse.softmax, +, -, * and / on them. Call .to_dense() first.')

    # ---- construction ------------------------------------------------------------------------------------------
    @classmethod
    def _make(cls, idx, vals, shape, coalesced=False, leaf=False):
        t = object.__new__(cls)
        t._device, t._rg, t._out, t._vc, t._hooks = vals._device, False, 0, None, None
        t._idx, t._vals, t._sshape = idx, vals, tuple(builtins.int(s) for s in shape)
        t._coal, t._leaf, t._csr_cache, t._tcache = coalesced or idx.shape[1] <= 1, leaf, None, None
        return t

    # ---- metadata ----------------------------------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._sshape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._sshape)
        from .ops._util import norm_dim
        return self._sshape[norm_dim(dim, len(self._sshape))]

    @property
    def dtype(self):
        return self._vals.dtype

    @property
    def ndim(self):
        return len(self._sshape)

    def dim(self):
        return len(self._sshape)

    ndimension = dim

    def numel(self):
        n = 1
        for s in self._sshape:
            n *= s
        return n

    nelement = numel

    def element_size(self):
        return self._vals.element_size()

    def is_floating_point(self):
        return self._vals.is_floating_point()

    def is_contiguous(self, memory_format=None):
        raise RuntimeError('sparse tensors do not have is_contiguous')

    def stride(self, dim=None):
        raise RuntimeError('sparse tensors do not have strides')

    def data_ptr(self):
        raise RuntimeError('sparse tensors do not have a data_ptr; use .values().data_ptr()')

    @property
    def is_sparse(self):
        return True

    @property
    def layout(self):
        from ._dtype import sparse_coo
        return sparse_coo

    def sparse_dim(self):
        return self._idx.shape[0]

    def dense_dim(self):
        return len(self._sshape) - self._idx.shape[0]

    def _nnz(self):
        return builtins.int(self._idx.shape[1])

    def is_coalesced(self):
        return self._coal

    def _indices(self):
        return _wrap(self._idx, self._device)

    def _values(self):
        return self._vals

    def indices(self):
        if not self._coal:
            raise RuntimeError('Cannot get indices on an uncoalesced tensor, please call .coalesce() first')
        return _wrap(self._idx, self._device)

    def values(self):
        if not self._coal:
            raise RuntimeError('Cannot get values on an uncoalesced tensor, please call .coalesce() first')
        return self._vals

    @property
    def data(self):
        return SparseTensor._make(self._idx, _wrap(self._vals._data, self._device), self._sshape, self._coal)

    # ---- autograd: carried by the values tensor ----------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._vals.requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if self._vals.grad_fn is not None and not self._leaf:
            if not flag:
                raise RuntimeError('you can only change requires_grad flags of leaf variables.')
            return
        if flag and not self._leaf:
            self._vals = self._vals.detach()
            self._leaf = True
        self._vals.requires_grad = flag

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        return None if self._leaf else self._vals.grad_fn

    @property
    def is_leaf(self):
        return self._leaf or self._vals.grad_fn is None

    @property
    def grad(self):
        """A leaf's gradient, sparse on its own pattern (PyTorch may give a dense one after sparse.mm)."""
        if not self._leaf or self._vals.grad is None:
            return None
        return SparseTensor._make(self._idx, self._vals.grad, self._sshape, self._coal)

    @grad.setter
    def grad(self, value):
        if value is None:
            self._vals.grad = None
        elif isinstance(value, SparseTensor):
            self._vals.grad = value._vals
        else:
            raise TypeError('the gradient of a sparse tensor must be a sparse tensor or None')

    def detach(self):
        return SparseTensor._make(self._idx, self._vals.detach(), self._sshape, self._coal)

    def detach_(self):
        self._vals = self._vals.detach()
        self._leaf = False
        return self

    def backward(self, *args, **kwargs):
        raise RuntimeError('backward() on a sparse tensor is not supported; reduce it first (ember.sparse.sum)')

    # ---- conversion --------------------------------------------------------------------------------------------
    def to_dense(self, dtype=None, *, masked_grad=None):
        vals, idx, dev = self._vals, self._idx, self._device
        xp = dev.xp
        out = xp.zeros(self._sshape, dtype=vals._data.dtype)
        _scatter_add(xp, out, tuple(idx), vals._data)
        from .ops._util import record
        key = tuple(_wrap(r, dev) for r in idx)
        res = record(out, dev, (vals,), 'ToDenseBackward0', (lambda g: g[key],))
        return res if dtype is None else res.to(dtype)

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        if layout not in (None, 'sparse_coo'):
            raise NotImplementedError(f'ember supports only the sparse_coo layout, not {layout}')
        return self

    to_sparse_coo = to_sparse

    def to_sparse_csr(self, *args, **kwargs):
        raise NotImplementedError('ember supports only the sparse_coo layout (to_sparse_csr is not implemented)')

    def coalesce(self):
        if self._coal:
            return self
        xp, dev = self._device.xp, self._device
        nsd = self._idx.shape[0]
        sshape = self._sshape[:nsd]
        if nsd == 0:
            return self
        lin = xp.ravel_multi_index(tuple(self._idx), sshape) if self._idx.shape[1] else self._idx[0]
        uniq, inv = xp.unique(lin, return_inverse=True)
        idx = xp.stack(xp.unravel_index(uniq, sshape)).astype(xp.int64) if uniq.size else \
            xp.zeros((nsd, 0), dtype=xp.int64)
        vals = self._vals
        if uniq.size == lin.size:
            order = xp.argsort(lin, kind='stable')
            new_vals = vals.index_select(0, _wrap(order, dev))
        else:
            from .ops.index import index_add
            zeros = _wrap(xp.zeros((uniq.size,) + tuple(vals.shape[1:]), dtype=vals._data.dtype), dev)
            new_vals = index_add(zeros, 0, _wrap(inv.reshape(-1).astype(xp.int64), dev), vals)
        return SparseTensor._make(idx, new_vals, self._sshape, True)

    def to(self, *args, **kwargs):
        vals = self._vals.to(*args, **kwargs)
        if vals is self._vals:
            return self
        idx = self._idx
        if vals._device is not self._device:
            idx = vals._device.xp.asarray(idx) if vals._device.type == 'cuda' else idx.get()
        return SparseTensor._make(idx, vals, self._sshape, self._coal)

    def type(self, dtype=None, non_blocking=False):
        if dtype is None:
            from ._dtype import _LEGACY_NAMES
            return f'torch.sparse.{_LEGACY_NAMES[self.dtype.name]}'
        return self.to(dtype)

    def clone(self, memory_format=None):
        return SparseTensor._make(self._idx.copy(), self._vals.clone(), self._sshape, self._coal)

    def numpy(self, *, force=False):
        raise TypeError("can't convert a sparse tensor to numpy: call .to_dense() first")

    def __array__(self, dtype=None, copy=None):
        return self.to_dense().detach().numpy().astype(dtype) if dtype else self.to_dense().detach().numpy()

    def tolist(self):
        return self.to_dense().tolist()

    def item(self):
        return self.to_dense().item()

    # ---- shape -------------------------------------------------------------------------------------------------
    def transpose(self, dim0, dim1):
        from .ops._util import norm_dim
        n, nsd = len(self._sshape), self._idx.shape[0]
        d0, d1 = norm_dim(dim0, n), norm_dim(dim1, n)
        if d0 == d1:
            return self
        if d0 >= nsd or d1 >= nsd:
            raise NotImplementedError('transpose of a sparse tensor is supported over its sparse dims only')
        idx = self._idx.copy()
        idx[[d0, d1]] = idx[[d1, d0]]
        shape = list(self._sshape)
        shape[d0], shape[d1] = shape[d1], shape[d0]
        return SparseTensor._make(idx, self._vals, shape, False)

    def t(self):
        if len(self._sshape) > 2:
            raise RuntimeError(f't() expects a tensor with <= 2 dimensions, but self is {len(self._sshape)}D')
        if len(self._sshape) < 2:
            return self
        if self._tcache is None:
            self._tcache = self.transpose(0, 1)
        return self._tcache

    @property
    def T(self):
        return self.t()

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def __len__(self):
        return self._sshape[0]

    # ---- arithmetic --------------------------------------------------------------------------------------------
    def _same_pattern(self, vals):
        return SparseTensor._make(self._idx, vals, self._sshape, self._coal)

    def __mul__(self, other):
        if isinstance(other, SparseTensor):
            if other._sshape != self._sshape:
                raise RuntimeError(f'mul of sparse tensors needs equal shapes, got {list(self._sshape)} and '
                                   f'{list(other._sshape)}')
            a, b = self.coalesce(), other.coalesce()
            return (a.to_dense() * b.to_dense()).to_sparse(a.sparse_dim())
        if isinstance(other, Tensor):
            if other.ndim == 0:
                return self._same_pattern(self._vals * other)
            if tuple(other.shape) != self._sshape:
                raise RuntimeError(f'mul of a sparse tensor of shape {list(self._sshape)} with a dense one needs '
                                   f'equal shapes, got {list(other.shape)}')
            key = tuple(_wrap(r, self._device) for r in self._idx)
            return self._same_pattern(self._vals * other[key])
        return self._same_pattern(self._vals * other)

    __rmul__ = __mul__
    mul = __mul__

    def __truediv__(self, other):
        if isinstance(other, Tensor) and other.ndim != 0:
            raise RuntimeError('sparse tensors can only be divided by scalars')
        return self._same_pattern(self._vals / other)

    div = __truediv__

    def __neg__(self):
        return self._same_pattern(-self._vals)

    neg = __neg__

    def __add__(self, other, alpha=1):
        if isinstance(other, SparseTensor):
            if other._sshape != self._sshape:
                raise RuntimeError(f'add: expected sizes to match, got {list(self._sshape)} and '
                                   f'{list(other._sshape)}')
            xp = self._device.xp
            from .ops.shape import cat
            ov = other._vals * alpha if alpha != 1 else other._vals
            return SparseTensor._make(xp.concatenate([self._idx, other._idx], axis=1), cat([self._vals, ov]),
                                      self._sshape, False)
        if isinstance(other, Tensor):  # sparse + dense is dense (PyTorch only allows dense + sparse)
            return self.to_dense() + (other * alpha if alpha != 1 else other)
        if other == 0:
            return self
        raise RuntimeError('adding a scalar to a sparse tensor would make it dense: call .to_dense() first')

    add = __add__

    def __radd__(self, other):
        if isinstance(other, Tensor):
            return other + self.to_dense()
        return self.__add__(other)

    def __sub__(self, other):
        return self.__add__(other, alpha=-1)

    sub = __sub__

    def __rsub__(self, other):
        return (-self).__radd__(other)

    def __matmul__(self, other):
        return matmul(self, other)

    matmul = mm = __matmul__

    def __rmatmul__(self, other):
        return matmul(other, self)

    def sum(self, dim=None, keepdim=False, dtype=None):
        if keepdim:
            raise NotImplementedError('sum(keepdim=True) is not supported for sparse tensors')
        return sum(self, dim, dtype=dtype)

    # ---- Python protocol ---------------------------------------------------------------------------------------
    def __repr__(self):
        from ._printing import format_tensor
        head = 'tensor(indices='
        ind = format_tensor(_wrap(self._idx, self._device)).replace('\n', '\n' + ' ' * len(head))
        vrepr = format_tensor(_wrap(self._vals._data, self._device))
        vrepr = vrepr.replace('\n', '\n' + ' ' * len('       values='))
        extra = ''
        if self._device is not cpu:
            extra += f", device='{self._device}'"
        if self.requires_grad:
            extra += f', grad_fn=<{self.grad_fn.name()}>' if self.grad_fn is not None else ', requires_grad=True'
        size = '(' + ', '.join(map(str, self._sshape)) + (',)' if len(self._sshape) == 1 else ')')
        return (f'{head}{ind},\n       values={vrepr},\n       size={size}, nnz={self._nnz()}, '
                f'layout=torch.sparse_coo{extra})')

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_sparse, (_wrap(self._idx, self._device), self._vals.detach(), self._sshape, self._coal,
                                  self.requires_grad))

    def __deepcopy__(self, memo):
        t = SparseTensor._make(self._idx.copy(), self._vals.detach().clone(), self._sshape, self._coal,
                               self._leaf)
        t._vals.requires_grad = self.requires_grad
        memo[id(self)] = t
        return t

    def __bool__(self):
        return builtins.bool(self.to_dense())

    # ---- the sparse-matrix engine ------------------------------------------------------------------------------
    def _matrix(self):
        """This 2-D tensor as a CSR matrix of the device's sparse module (cached while the values are unchanged)."""
        vals = self._vals
        key = (vals._data, vals._version)
        c = self._csr_cache
        if c is not None and c[0][0] is key[0] and c[0][1] == key[1]:
            return c[1]
        sps = _engine(self._device)
        data = vals._data
        if data.dtype.kind == 'f' and data.dtype.itemsize < 4:  # no float16 kernels in scipy/cuSPARSE
            data = data.astype('float32')
        m = sps.coo_matrix((data, (self._idx[0], self._idx[1])), shape=self._sshape).tocsr()
        self._csr_cache = (key, m)
        return m


def _rebuild_sparse(indices, values, shape, coalesced, requires_grad):
    t = SparseTensor._make(indices._data, values, shape, coalesced, leaf=requires_grad)
    if requires_grad:
        t._vals.requires_grad = True
    return t


# ---- construction -------------------------------------------------------------------------------------------------
def _as_index_array(indices, dev):
    xp = dev.xp
    if isinstance(indices, Tensor):
        arr = indices.to(dev)._data
    else:
        import numpy as np
        arr = xp.asarray(np.asarray(indices))
    if arr.dtype.kind not in 'iu':
        raise RuntimeError(f'indices must be an int64 tensor, got {from_np(arr.dtype)}')
    if arr.ndim != 2:
        raise RuntimeError(f'indices must be sparse_dim x nnz, but got: {list(arr.shape)}')
    return arr.astype(xp.int64, copy=False)


def sparse_coo_tensor(indices, values, size=None, dtype=None, device=None, requires_grad=False,
                      check_invariants=None, is_coalesced=None):
    """A sparse COO tensor from ``indices`` (sparse_dim x nnz) and ``values`` (nnz x dense dims).

    When ``values`` is a tensor that requires grad, gradients flow to it through every sparse op."""
    from ._creation import tensor as _tensor
    if isinstance(values, Tensor):
        vals = values
        if device is not None:
            vals = vals.to(get_device(device))
        if dtype is not None:
            vals = vals.to(to_dtype(dtype))
    else:
        vals = _tensor(values, dtype=dtype, device=device)
    dev = vals._device
    idx = _as_index_array(indices, dev)
    xp = dev.xp
    nsd, nnz = idx.shape
    if vals.ndim == 0:
        raise RuntimeError('values must have at least one dimension (nnz)')
    if vals.shape[0] != nnz:
        raise RuntimeError(f'indices and values must have same nnz, but got nnz from indices: {nnz}, nnz from '
                           f'values: {vals.shape[0]}')
    if size is None:
        sshape = tuple(builtins.int(v) + 1 for v in (idx.max(axis=1).tolist() if nnz else [-1] * nsd))
        size = sshape + tuple(vals.shape[1:])
    else:
        size = tuple(builtins.int(s) for s in size)
        if len(size) != nsd + vals.ndim - 1:
            raise RuntimeError(f'number of dimensions must be sparse_dim ({nsd}) + dense_dim ({vals.ndim - 1}), '
                               f'but got {len(size)}')
        if tuple(vals.shape[1:]) != size[nsd:]:
            raise RuntimeError(f'values has incorrect size, expected {[nnz] + list(size[nsd:])}, got '
                               f'{list(vals.shape)}')
        if nnz:
            hi, lo = idx.max(axis=1).tolist(), idx.min(axis=1).tolist()
            for d in range(nsd):
                if lo[d] < 0:
                    raise RuntimeError(f'found negative index {lo[d]} for dim {d}')
                if hi[d] >= size[d]:
                    raise RuntimeError(f'size is inconsistent with indices: for dim {d}, size is {size[d]} but '
                                       f'found index {hi[d]}')
    del xp
    leaf = False
    if requires_grad:
        if vals.requires_grad:
            raise RuntimeError('sparse_coo_tensor(requires_grad=True) needs values that do not require grad '
                               '(pass requires_grad=False to build from differentiable values)')
        vals = vals.detach().requires_grad_()
        leaf = True
    return SparseTensor._make(idx, vals, size, builtins.bool(is_coalesced), leaf)


def to_sparse(t, sparse_dim=None, *, layout=None):
    """A dense tensor as sparse COO (coalesced): its nonzero entries over the first ``sparse_dim`` dims."""
    if isinstance(t, SparseTensor):
        return t.to_sparse(sparse_dim, layout=layout)
    if layout not in (None, 'sparse_coo'):
        raise NotImplementedError(f'ember supports only the sparse_coo layout, not {layout}')
    nsd = t.ndim if sparse_dim is None else builtins.int(sparse_dim)
    if not 0 < nsd <= t.ndim:
        raise RuntimeError(f'sparse_dim must be in [1, {t.ndim}], got {sparse_dim}')
    dev, xp = t._device, t._device.xp
    nz = t._data != 0
    if nsd < t.ndim:
        nz = nz.any(axis=tuple(range(nsd, t.ndim)))
    idx = xp.stack(xp.nonzero(nz)).astype(xp.int64) if nz.ndim else xp.zeros((0, 1), dtype=xp.int64)
    key = tuple(_wrap(r, dev) for r in idx)
    return SparseTensor._make(idx, t[key], tuple(t.shape), True)


def _legacy(dtype_name):
    def ctor(*args, device=None):
        from ._dtype import _BY_NAME
        dt = _BY_NAME[dtype_name]
        if len(args) >= 2 and not isinstance(args[0], builtins.int):
            size = args[2] if len(args) > 2 else None
            return sparse_coo_tensor(args[0], args[1], size, dtype=dt, device=device)
        shape = tuple(args[0]) if len(args) == 1 and not isinstance(args[0], builtins.int) else args
        from ._creation import zeros
        dev = get_device(device)
        return SparseTensor._make(dev.xp.zeros((len(shape), 0), dtype=dev.xp.int64),
                                  zeros((0,), dtype=dt, device=dev), shape, True)
    ctor.__name__ = ctor.__qualname__ = {'float32': 'FloatTensor', 'float64': 'DoubleTensor', 'float16':
                                         'HalfTensor', 'int64': 'LongTensor', 'int32': 'IntTensor',
                                         'uint8': 'ByteTensor', 'bool': 'BoolTensor'}[dtype_name]
    ctor.__doc__ = f'Legacy constructor: ({ctor.__name__}(indices, values, size) or ({ctor.__name__}(*size)).'
    return ctor


FloatTensor, DoubleTensor, HalfTensor = _legacy('float32'), _legacy('float64'), _legacy('float16')
LongTensor, IntTensor, ByteTensor, BoolTensor = _legacy('int64'), _legacy('int32'), _legacy('uint8'), _legacy('bool')


class check_sparse_tensor_invariants:
    """Context manager/decorator kept for compatibility: ember checks index bounds at construction always."""

    def __init__(self, enable=True):
        self.enable = enable

    @staticmethod
    def is_enabled():
        return True

    @staticmethod
    def enable():
        pass

    @staticmethod
    def disable():
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, fn):
        return fn


# ---- products -----------------------------------------------------------------------------------------------------
def _spmm(a, b):
    """sparse (n x m, 2 sparse dims) @ dense (m x k): one recorded node, gradients to b and to a's values."""
    from .ops._util import record, same_device
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
    mat = _engine(dev)
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
    if _engine(a._device) is None:
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
    from .ops.linalg import mm as dense_mm
    return dense_mm(mat1, mat2)


spmm = mm


def matmul(a, b):
    """``@`` with a sparse operand: 2-D sparse matrices times dense matrices or vectors."""
    if isinstance(a, SparseTensor) or isinstance(b, SparseTensor):
        return mm(a, b)
    from .ops.linalg import matmul as dense_matmul
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
    from .ops._util import norm_dims
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
    from .ops._util import norm_dim
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
    from .ops.index import index_add
    xp = e._device.xp
    return index_add(_wrap(xp.zeros((n,), dtype=e._data.dtype), e._device), 0, _wrap(grp, e._device), e)
