"""Shared argument handling of the spatial functions (convolution, pooling, resampling): tuples, batch dims."""
from ..._tensor import Tensor

def _ntuple(v, n, name='argument'):
    if isinstance(v, Tensor):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        if len(v) == 1 and n > 1:
            return tuple(int(v[0]) for _ in range(n))
        if len(v) != n:
            raise RuntimeError(f'expected {name} to be a single integer value or a list of {n} values to match the '
                               f'convolution dimensions, but got {name}={list(v)}')
        return tuple(int(a) for a in v)
    return (int(v),) * n


def _check_tensor(x, fn, name='input'):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position 1) must be Tensor, not {type(x).__name__}")


def _batched(x, nd, fn):
    """(x with a batch dim, whether one was added): accepts (C, S...) and (N, C, S...) inputs."""
    if x.ndim == nd + 1:
        return x.unsqueeze(0), True
    if x.ndim == nd + 2:
        return x, False
    sizes = {1: '2D (unbatched) or 3D (batched)', 2: '3D (unbatched) or 4D (batched)',
             3: '4D (unbatched) or 5D (batched)'}[nd]
    raise RuntimeError(f'Expected {sizes} input to {fn}, but got input of size: {list(x.shape)}')


def _unbatch(out, squeezed):
    return out.squeeze(0) if squeezed else out


def _sizes_str(s):
    return ' x '.join(map(str, s))
