"""torch.hash_tensor: an xor reduction of the elements' 64-bit patterns (floats as float64, integers as int64)."""
from ._util import _wrap, norm_dims


def _xor_last(x, xp):
    """xor over the last axis, pairwise (the array modules share no ufunc.reduce for it)."""
    while x.shape[-1] > 1:
        if x.shape[-1] % 2:
            x = xp.concatenate([x, xp.zeros(x.shape[:-1] + (1,), x.dtype)], -1)
        x = xp.bitwise_xor(x[..., 0::2], x[..., 1::2])
    return x[..., 0]


def hash_tensor(input, dim=None, *, keepdim=False, mode=0):
    a = input
    if mode != 0:
        raise RuntimeError(f'Unknown hash_tensor mode: {mode}')
    xp = a._device.xp
    arr = a._data
    bits = (arr.astype('float64') if arr.dtype.kind in 'fV' else arr.astype('int64')).view('uint64')
    nd = arr.ndim
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        if arr.size == 0:
            raise RuntimeError("hash_tensor: Expected reduction dim to be specified for input.numel() == 0. Specify "
                               "the reduction dim with the 'dim' argument.")
        dims = tuple(range(nd))
    else:
        dims = tuple(sorted(norm_dims(dim, nd)))
    for d in dims:
        if arr.shape[d] == 0:
            raise IndexError(f'hash_tensor: Expected reduction dim {d} to have non-zero size.')
    keep = [d for d in range(nd) if d not in dims]
    n = 1
    for d in dims:
        n *= arr.shape[d]
    moved = xp.transpose(bits, keep + list(dims)).reshape(tuple(arr.shape[d] for d in keep) + (n,))
    out = _xor_last(moved, xp) if moved.shape[-1] else xp.zeros(moved.shape[:-1], 'uint64')
    if keepdim:
        out = out.reshape(tuple(1 if d in dims else arr.shape[d] for d in range(nd)))
    return _wrap(out.copy(), a._device)
