"""Building sparse COO tensors: sparse_coo_tensor, to_sparse, the legacy constructors."""
import builtins

from .._tensor import Tensor, _wrap
from .._dtype import from_np, to_dtype, _LEGACY_NAMES
from ..backends import get_device
from . import SparseTensor


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
    from .._creation import tensor as _tensor
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
        from .._dtype import _BY_NAME
        dt = _BY_NAME[dtype_name]
        if len(args) >= 2 and not isinstance(args[0], builtins.int):
            size = args[2] if len(args) > 2 else None
            return sparse_coo_tensor(args[0], args[1], size, dtype=dt, device=device)
        shape = tuple(args[0]) if len(args) == 1 and not isinstance(args[0], builtins.int) else args
        from .._creation import zeros
        dev = get_device(device)
        return SparseTensor._make(dev.xp.zeros((len(shape), 0), dtype=dev.xp.int64),
                                  zeros((0,), dtype=dt, device=dev), shape, True)
    ctor.__name__ = ctor.__qualname__ = _LEGACY_NAMES[dtype_name]
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
