"""Sparse COO tensors (ember.sparse_coo_tensor, Tensor.to_sparse) and their products, on scipy/cupyx sparse."""
import builtins
import sys

from .._tensor import Tensor, Size, _wrap
from ..backends import cpu

__all__ = ['SparseTensor', 'sparse_coo_tensor', 'mm', 'spmm', 'addmm', 'sum', 'softmax', 'log_softmax',
           'to_sparse', 'FloatTensor', 'DoubleTensor', 'HalfTensor', 'LongTensor', 'IntTensor', 'ByteTensor',
           'BoolTensor', 'check_sparse_tensor_invariants']

_PKG = __file__.rsplit('/', 2)[0]  # the ember package: frames of any ember module count


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
        from ..ops._util import norm_dim
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
        from .._dtype import sparse_coo
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
        from ..ops._util import record
        key = tuple(_wrap(r, dev) for r in idx)
        res = record(out, dev, (vals,), 'ToDenseBackward0', (lambda g: g[key],), holds=True)
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
            from ..ops.index import index_add
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
            from .._dtype import _LEGACY_NAMES
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
        from ..ops._util import norm_dim
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
            from ..ops.shape import cat
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
        from .._printing import format_tensor
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


# Construction and the sparse ops live in modules by concern (imported last: they build on SparseTensor);
# ember.sparse keeps every name, and SparseTensor's methods find them here.
from ._construct import (_as_index_array, sparse_coo_tensor, to_sparse, _legacy, FloatTensor,  # noqa: E402,F401
                         DoubleTensor, HalfTensor, LongTensor, IntTensor, ByteTensor, BoolTensor,
                         check_sparse_tensor_invariants)
from ._ops import (_spmm, _sparse_sparse, mm, spmm, matmul, addmm, sum, _row_groups, softmax,  # noqa: E402,F401
                   log_softmax, _group_max, _group_exp, _group_sum)
for _name in __all__:  # public names keep the module they had when ember.sparse was one file (reprs, pickles)
    globals()[_name].__module__ = __name__
del _name
