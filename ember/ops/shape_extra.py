"""More shape and index ops: tile, kron, rot90, atleast_*d, splits, diag_embed, block_diag, products of index sets,
repeat_interleave, take_along_dim, index_fill, tensordot, addmv/addbmm/baddbmm/addr."""
import builtins
import itertools
import math

from .._dtype import int64, to_dtype
from ._util import Tensor, record, norm_dim, _wrap, coerce_pair
from .elementwise import where
from .shape import reshape, flip, transpose, cat, stack, split, tensor_split, chunk, diagonal, expand, repeat
from .index import index_select, gather
from .linalg import matmul, outer


def tile(input, dims):
    dims = tuple(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


def kron(input, other):
    n = builtins.max(input.ndim, other.ndim)
    a = input.reshape((1,) * (n - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (n - other.ndim) + tuple(other.shape))
    a2 = a.reshape(tuple(x for s in a.shape for x in (s, 1)))
    b2 = b.reshape(tuple(x for s in b.shape for x in (1, s)))
    return (a2 * b2).reshape(tuple(p * q for p, q in zip(a.shape, b.shape)))


def rot90(input, k=1, dims=(0, 1)):
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f'expected total rotation dims == 2, but got dims = {len(dims)}')
    if input.ndim < 2:
        raise RuntimeError(f'expected total dims >= 2, but got total dims = {input.ndim}')
    d0, d1 = norm_dim(dims[0], input.ndim), norm_dim(dims[1], input.ndim)
    if d0 == d1:
        raise RuntimeError(f'expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}')
    k %= 4
    if k == 1:
        return transpose(flip(input, [d1]), d0, d1)
    if k == 2:
        return flip(input, [d0, d1])
    if k == 3:
        return flip(transpose(input, d0, d1), [d1])
    return input.clone()


def _atleast(tensors, n, shape_fn):
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = tuple(t if t.ndim >= n else reshape(t, shape_fn(t)) for t in tensors)
    return out[0] if single else out


def atleast_1d(*tensors):
    return _atleast(tensors, 1, lambda t: (1,))


def atleast_2d(*tensors):
    return _atleast(tensors, 2, lambda t: (1, 1) if t.ndim == 0 else (1, t.shape[0]))


def atleast_3d(*tensors):
    return _atleast(tensors, 3, lambda t: (1, 1, 1) if t.ndim == 0 else (
        (1, t.shape[0], 1) if t.ndim == 1 else tuple(t.shape) + (1,)))


def ravel(input):
    return reshape(input, (-1,))


def column_stack(tensors):
    return cat([t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors], 1)


def dstack(tensors):
    return cat(atleast_3d(*tensors), 2)


def _dim_split(input, sections, dim, name):
    if isinstance(sections, int):
        if sections == 0 or input.shape[dim] % sections:
            raise RuntimeError(f'torch.{name} attempted to split along dimension {dim}, but the size of the dimension '
                               f'{input.shape[dim]} is not divisible by the split_size {sections}!')
    return tensor_split(input, sections, dim)


def hsplit(input, indices_or_sections):
    if input.ndim < 1:
        raise RuntimeError(f'torch.hsplit requires a tensor with at least 1 dimension, but got a tensor with '
                           f'{input.ndim} dimensions!')
    return _dim_split(input, indices_or_sections, 1 if input.ndim > 1 else 0, 'hsplit')


def vsplit(input, indices_or_sections):
    if input.ndim < 2:
        raise RuntimeError(f'torch.vsplit requires a tensor with at least 2 dimension, but got a tensor with '
                           f'{input.ndim} dimensions!')
    return _dim_split(input, indices_or_sections, 0, 'vsplit')


def dsplit(input, indices_or_sections):
    if input.ndim < 3:
        raise RuntimeError(f'torch.dsplit requires a tensor with at least 3 dimension, but got a tensor with '
                           f'{input.ndim} dimensions!')
    return _dim_split(input, indices_or_sections, 2, 'dsplit')


def split_with_sizes(input, split_sizes, dim=0):
    if builtins.sum(split_sizes) != input.shape[norm_dim(dim, input.ndim)]:
        raise RuntimeError(f'split_with_sizes expects split_sizes to sum exactly to {input.shape[dim]} (input '
                           f'tensor\'s size at dimension {dim}), but got split_sizes={list(split_sizes)}')
    return split(input, list(split_sizes), dim)


unsafe_split = split
unsafe_chunk = chunk


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Matrices whose (offset) diagonals are input's last dim; the gradient is the same diagonal of the incoming one."""
    xp = input._device.xp
    n = input.shape[-1] if input.ndim else 1
    m = n + builtins.abs(offset)
    out_nd = input.ndim + 1
    d1, d2 = norm_dim(dim1, out_nd), norm_dim(dim2, out_nd)
    if d1 == d2:
        raise RuntimeError(f'diagonal dimensions cannot be identical {dim1}, {dim2}')
    x = input._data
    arr = xp.zeros(x.shape[:-1] + (m, m), x.dtype)
    i = xp.arange(n)
    r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
    arr[..., r, c] = x
    # the two new dims are last in arr: move them to (d1, d2)
    arr = xp.moveaxis(arr, (-2, -1), (d1, d2))
    return record(arr, input._device, (input,), 'DiagEmbedBackward0',
                  (lambda g: diagonal(g, offset, d1, d2),))


def diagflat(input, offset=0):
    return diag_embed(input.reshape(-1), offset)


def block_diag(*tensors):
    from .._creation import zeros
    mats = [t.reshape(1, 1) if t.ndim == 0 else (t.reshape(1, -1) if t.ndim == 1 else t) for t in tensors]
    for t in mats:
        if t.ndim != 2:
            raise RuntimeError(f'torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {mats.index(t)}'
                               f' has {t.ndim} dimensions')
    if not mats:
        return zeros(1, 0)
    dt, xp = mats[0].dtype, mats[0]._device.xp
    for t in mats[1:]:  # PyTorch's promotion over all the blocks
        dt = coerce_pair(_wrap(xp.zeros(1, dt.np), t._device), _wrap(xp.zeros(1, t._data.dtype), t._device),
                         'block_diag')[0].dtype
    mats = [t.to(dt) for t in mats]
    total = builtins.sum(t.shape[1] for t in mats)
    rows, left = [], 0
    for t in mats:
        r, c = t.shape
        parts = [zeros(r, left, dtype=dt, device=t.device), t, zeros(r, total - left - c, dtype=dt, device=t.device)]
        rows.append(cat(parts, 1))
        left += c
    return cat(rows, 0)


def cartesian_prod(*tensors):
    if len(tensors) == 1:
        return tensors[0]
    n = len(tensors)
    grids = []
    sizes = [t.numel() for t in tensors]
    for i, t in enumerate(tensors):
        view = [1] * n
        view[i] = -1
        grids.append(expand(t.reshape(view), sizes).reshape(-1))
    return stack(grids, 1)


def combinations(input, r=2, with_replacement=False):
    if input.ndim != 1:
        raise RuntimeError(f'Expect a 1D vector, but got shape {list(input.shape)}')
    if r < 0:
        raise RuntimeError(f'Expect a non-negative number, but got {r}')
    gen = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = list(gen(range(input.shape[0]), r)) if r else []
    if not idx:  # still a function of input, so the (empty) result is in the graph as in PyTorch
        empty = _wrap(input._device.xp.zeros(0, int64.np), input._device)
        return index_select(input, 0, empty).reshape((0, r) if r > 1 else (0,))
    index = _wrap(input._device.xp.asarray(idx, dtype=int64.np).reshape(-1), input._device)
    return index_select(input, 0, index).reshape(len(idx), r)


def _tri_indices(row, col, offset, lower, dtype, device):
    import numpy as np  # index arithmetic on the host; the result moves to the device below
    from .._creation import tensor
    r, c = (np.tril_indices if lower else np.triu_indices)(row, offset, col)
    return tensor(np.stack([r, c]).astype(np.int64).reshape(2, -1), dtype=dtype or int64, device=device)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _tri_indices(row, col, offset, True, dtype, device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _tri_indices(row, col, offset, False, dtype, device)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    xp = input._device.xp
    if repeats is None:  # repeat_interleave(repeats): each index i repeated repeats[i] times
        return _wrap(xp.repeat(xp.arange(input.shape[0]), input._data), input._device)
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else norm_dim(dim, input.ndim)
    n = x.shape[d] if x.ndim else 1
    rep = repeats._data if isinstance(repeats, Tensor) else repeats
    if isinstance(repeats, Tensor) and repeats.ndim == 1 and repeats.shape[0] not in (1, n):
        raise RuntimeError(f'repeats must have the same size as input along dim, but got repeats.size(0) = '
                           f'{repeats.shape[0]} and input.size({d}) = {n}')
    idx = xp.repeat(xp.arange(n), rep.reshape(-1) if hasattr(rep, 'reshape') and rep.size != 1 else int(rep))
    if x.ndim == 0:
        x = x.reshape(1)
    return index_select(x, d, _wrap(idx.astype(int64.np), input._device))


def take_along_dim(input, indices, dim=None):
    if dim is None:  # PyTorch gathers from the flattened input (negative indices are out of bounds there)
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    d = norm_dim(dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if n and indices.numel() and indices._data.dtype.kind in 'iu':  # along a dim, indices wrap as in PyTorch
        indices = _wrap(indices._data % n, indices._device)
    import numpy as np
    shape_i = list(np.broadcast_shapes(tuple(n for i, n in enumerate(input.shape) if i != d),
                                       tuple(n for i, n in enumerate(indices.shape) if i != d)))
    si, sx = list(shape_i), list(shape_i)
    si.insert(d, indices.shape[d])
    sx.insert(d, input.shape[d])
    return gather(expand(input, sx), d, expand(indices, si))


def index_fill(input, dim, index, value):
    d = norm_dim(dim, input.ndim)
    xp = input._device.xp
    mask = xp.zeros(input.shape[d] if input.ndim else 1, bool)
    mask[index._data.reshape(-1)] = True
    mask = mask.reshape(tuple(-1 if i == d else 1 for i in range(input.ndim)))
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f'index_fill_ only supports a 0-dimensional value tensor, but got tensor with '
                               f'{value.ndim} dimension(s).')
        value = value.to(input.dtype)
    out = where(_wrap(mask, input._device), value, input)
    return out if out.dtype == input.dtype else out.to(input.dtype)


def tensordot(a, b, dims=2, out=None):
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f'tensordot expects dims >= 0, but got dims={dims}')
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    elif isinstance(dims, Tensor):
        return tensordot(a, b, dims.tolist())
    else:
        da, db = dims
        da, db = ([da], [db]) if isinstance(da, int) else (list(da), list(db))
    da = [norm_dim(d, a.ndim) for d in da]
    db = [norm_dim(d, b.ndim) for d in db]
    for i, j in zip(da, db):  # a contracted dim of size 1 broadcasts against the other's, as in PyTorch
        if a.shape[i] != b.shape[j]:
            if a.shape[i] == 1:
                a = expand(a, [b.shape[j] if k == i else n for k, n in enumerate(a.shape)])
            elif b.shape[j] == 1:
                b = expand(b, [a.shape[i] if k == j else n for k, n in enumerate(b.shape)])
            else:
                raise RuntimeError(f'contracted dimensions need to match, but first has size {a.shape[i]} in dim {i}'
                                   f' and second has size {b.shape[j]} in dim {j}')
    fa = [i for i in range(a.ndim) if i not in da]
    fb = [i for i in range(b.ndim) if i not in db]
    k = math.prod(a.shape[d] for d in da)
    am = a.permute(fa + da).reshape(math.prod(a.shape[i] for i in fa), k)
    bm = b.permute(db + fb).reshape(k, math.prod(b.shape[i] for i in fb))
    return matmul(am, bm).reshape([a.shape[i] for i in fa] + [b.shape[i] for i in fb])


def unravel_index(indices, shape):
    import numpy as np
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in 'iu':
        raise TypeError(f"expected 'indices' to be integer dtype, but got {indices.dtype}")
    total = math.prod(shape)
    if idx.size and (idx.min() < -total or idx.max() >= total):
        raise RuntimeError('unravel_index: index out of bounds')
    xp = indices._device.xp if isinstance(indices, Tensor) else np
    res = (xp.unravel_index(idx % total if total else idx, shape) if idx.size
           else [xp.zeros(idx.shape, 'int64')] * len(shape))
    dev = indices._device if isinstance(indices, Tensor) else None
    from ..backends import cpu
    return tuple(_wrap(xp.asarray(r).astype(int64.np), dev or cpu) for r in res)


def _beta_alpha(input, prod, beta, alpha):
    prod = prod if alpha == 1 else prod * alpha
    if beta == 0:  # input is ignored (its NaNs and infs too), as in PyTorch
        from .math_extra import nan_to_num
        return prod + (nan_to_num(input * 0, 0.0, 0.0, 0.0) if input._data.dtype.kind == 'f' else input * 0)
    return prod + (input if beta == 1 else input * beta)


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    return _beta_alpha(input, matmul(mat, vec), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    return _beta_alpha(input, matmul(batch1, batch2).sum(0), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    return _beta_alpha(input, matmul(batch1, batch2), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):
    return _beta_alpha(input, outer(vec1, vec2), beta, alpha)


def vdot(input, other, *, out=None):
    from .linalg import dot
    return dot(input.conj_physical(), other)  # (the first argument conjugated)


def sum_to_size(input, *size):
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    from ._util import unbroadcast
    return unbroadcast(input, size)


def scalar_tensor(s, *, dtype=None, device=None, layout=None, pin_memory=None, requires_grad=False):
    from .._creation import tensor
    from .._dtype import get_default_dtype
    return tensor(s, dtype=to_dtype(dtype) or get_default_dtype(), device=device, requires_grad=requires_grad)


METHODS = (tile, kron, rot90, ravel, hsplit, vsplit, dsplit, split_with_sizes, unsafe_split, unsafe_chunk,
           diag_embed, diagflat, repeat_interleave, take_along_dim, index_fill, addmv, addbmm, baddbmm, addr, vdot,
           sum_to_size)
__all__ = [f.__name__ for f in METHODS] + ['atleast_1d', 'atleast_2d', 'atleast_3d', 'column_stack', 'dstack',
                                           'block_diag', 'cartesian_prod', 'combinations', 'tril_indices',
                                           'triu_indices', 'tensordot', 'unravel_index', 'scalar_tensor']
