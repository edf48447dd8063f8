"""ember.nn.functional.grid_sample, affine_grid and torch.grid_sampler/_2d/_3d: sampling an input at normalised grid
points (bilinear, nearest, bicubic; zeros/border/reflection padding), built from differentiable tensor ops."""
import itertools
import warnings

from ..._tensor import Tensor, _wrap
from ...ops._util import record, renamed as _renamed
from ...ops.nn_ops import _dtname

__all__ = ['grid_sample', 'affine_grid']

_MODES = {'bilinear': 0, 'nearest': 1, 'bicubic': 2}
_PADDINGS = {'zeros': 0, 'border': 1, 'reflection': 2}
_A = -0.75  # the bicubic convolution's parameter, as PyTorch


def _unnormalize(c, size, align_corners):
    """[-1, 1] to pixel coordinates: -1 and 1 are the corner pixels' centres (align_corners) or outer edges."""
    if align_corners:
        return (c + 1) / 2 * (size - 1)
    return ((c + 1) * size - 1) / 2


def _reflect(c, twice_low, twice_high):
    """c reflected into [twice_low / 2, twice_high / 2] (the gradient flips sign on odd reflections)."""
    if twice_low == twice_high:
        return c * 0
    lo, span = twice_low / 2, (twice_high - twice_low) / 2
    a = (c - lo).abs()
    flips = (a.detach() / span).floor()
    extra = a - flips * span
    odd = flips._data % 2 == 1
    sign = _wrap((1 - 2 * odd).astype(c._data.dtype), c._device)
    return extra * sign + _wrap((odd * span + lo).astype(c._data.dtype), c._device)


def _pad_coords(c, size, padding_mode, align_corners):
    """Pixel coordinates with border (clipped) or reflection padding applied; zeros padding leaves them alone."""
    if padding_mode == 1:
        return c.clamp(0, size - 1)
    if padding_mode == 2:
        c = _reflect(c, 0, 2 * (size - 1)) if align_corners else _reflect(c, -1, 2 * size - 1)
        return c.clamp(0, size - 1)
    return c


def _take(src, flat):
    """src (M,) read at the integer positions ``flat`` (any shape). The backward sums the gradient into M slots
    with bincount (much faster than ufunc.at for the many repeats of a sampling grid) and is itself differentiable:
    its own backward reads at the same positions."""
    M = src.shape[0]
    return record(src._data[flat], src._device, (src,), 'TakeBackward0', (lambda g: _put(g, flat, M),),
                  holds=True)


def _put(g, flat, M):
    xp = g._device.xp
    acc = xp.bincount(flat.reshape(-1), weights=g._data.reshape(-1), minlength=M).astype(g._data.dtype)
    return record(acc, g._device, (g,), 'TakeBackwardBackward0', (lambda gg: _take(gg, flat),),
                  holds=True)


def _gather(x, idx, valid):
    """x (N, C, *S) read at integer positions idx[d] (each (N, K, L) arrays, one per spatial dim) -> (N, C, K, L);
    positions outside S (where ``valid`` is False) read index 0 and are weighted out by the caller."""
    xp = x._device.xp
    N, C = x.shape[:2]
    S = x.shape[2:]
    P = 1
    for s in S:
        P *= s
    flat = None
    for d, s in enumerate(S):
        i = xp.where(valid, idx[d], 0)
        flat = i if flat is None else flat * s + i
    K, L = flat.shape[1:]
    rows = (xp.arange(N)[:, None] * C + xp.arange(C)[None, :]) * P              # (N, C): each plane's start
    flat = rows[:, :, None] + flat.reshape(N, 1, K * L).astype('int64')
    return _take(x.reshape(N * C * P), flat).reshape(N, C, K, L)


def _in_bounds(xp, idx, S):
    ok = None
    for i, s in zip(idx, S):
        v = (i >= 0) & (i < s)
        ok = v if ok is None else ok & v
    return ok


def _sample(x, grid, mode, padding_mode, align_corners):
    """The sampler on (N, C, *S) with grid (N, *O, nd): grid's last coordinate k indexes spatial dim nd - 1 - k."""
    xp = x._device.xp
    N, C = x.shape[:2]
    S = tuple(x.shape[2:])
    nd = len(S)
    O = tuple(grid.shape[1:-1])
    L = 1
    for o in O:
        L *= o
    g = grid.reshape(N, L, nd)
    dt = x._data.dtype
    coords = [_unnormalize(g[:, :, nd - 1 - d], S[d], align_corners) for d in range(nd)]  # (N, L) per dim
    if mode == 2:  # bicubic: 4 x 4 taps, padding applied to each tap's position; gradient through the fractions
        floors = [c.detach().floor() for c in coords]
        coeffs = []
        for c, f in zip(coords, floors):
            t = c - f
            t1, t2 = t + 1, 1 - t
            coeffs.append([((_A * t1 - 5 * _A) * t1 + 8 * _A) * t1 - 4 * _A,
                           ((_A + 2) * t - (_A + 3)) * t * t + 1,
                           ((_A + 2) * t2 - (_A + 3)) * t2 * t2 + 1,
                           ((_A * (t2 + 1) - 5 * _A) * (t2 + 1) + 8 * _A) * (t2 + 1) - 4 * _A])
        taps = list(itertools.product(range(4), repeat=nd))
        idx, weights = [], None
        for d in range(nd):
            pos = [_pad_coords(floors[d] + (k - 1), S[d], padding_mode, align_corners)._data for k in range(4)]
            idx.append(xp.stack([xp.trunc(pos[tap[d]]).astype('int64') for tap in taps], 1))
        for tap in taps:
            w = None
            for d in range(nd):
                w = coeffs[d][tap[d]] if w is None else w * coeffs[d][tap[d]]
            weights = [w] if weights is None else weights + [w]
    elif mode == 1:  # nearest: the rounded position (half to even), no gradient for the grid
        pos = [xp.rint(_pad_coords(c, S[d], padding_mode, align_corners).detach()._data).astype('int64')
               for d, c in enumerate(coords)]
        idx = [p[:, None, :] for p in pos]
        weights = None
    else:  # (tri/bi)linear: 2 ** nd corners weighted by the opposite fractions
        coords = [_pad_coords(c, S[d], padding_mode, align_corners) for d, c in enumerate(coords)]
        floors = [c.detach().floor() for c in coords]
        corners = list(itertools.product(range(2), repeat=nd))
        idx = [xp.stack([floors[d]._data.astype('int64') + bit[d] for bit in corners], 1) for d in range(nd)]
        weights = []
        for bit in corners:
            w = None
            for d in range(nd):
                f = (coords[d] - floors[d]) if bit[d] else (floors[d] + 1 - coords[d])
                w = f if w is None else w * f
            weights.append(w)
    valid = _in_bounds(xp, idx, S)
    vals = _gather(x, idx, valid)                                           # (N, C, K, L)
    mask = _wrap(valid.astype(dt), x._device)
    if weights is None:
        out = (vals * mask.unsqueeze(1))[:, :, 0]
    else:
        from ...ops.shape import stack
        w = stack(weights, 1) * mask                                        # (N, K, L)
        out = (vals * w.unsqueeze(1)).sum(2)
    return out.reshape((N, C) + O)


def grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners):
    """torch.grid_sampler: modes 0 bilinear, 1 nearest, 2 bicubic; padding 0 zeros, 1 border, 2 reflection."""
    for name, t in (('input', input), ('grid', grid)):
        if not isinstance(t, Tensor):
            raise TypeError(f"grid_sampler(): argument '{name}' must be Tensor, not {type(t).__name__}")
    shapes = f'input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}'
    if input.ndim == 0 or grid.ndim == 0 or input.shape[0] != grid.shape[0]:
        raise RuntimeError(f'grid_sampler(): expected grid and input to have same batch size, but got {shapes}')
    nd = input.ndim - 2
    if grid.shape[-1] != grid.ndim - 2:
        raise RuntimeError(f'grid_sampler(): expected grid to have size {grid.ndim - 2} in last dimension, but got '
                           f'grid with sizes {list(grid.shape)}')
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(f'grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but '
                           f'got {shapes}')
    for d in range(2, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f'grid_sampler(): expected input to have non-empty spatial dimensions, but input has '
                               f'sizes {list(input.shape)} with dimension {d} being empty')
    if interpolation_mode not in (0, 1, 2) or padding_mode not in (0, 1, 2):
        raise RuntimeError(f'grid_sampler(): invalid interpolation_mode {interpolation_mode} or padding_mode '
                           f'{padding_mode}')
    if interpolation_mode == 2 and nd != 2:
        raise RuntimeError('grid_sampler(): bicubic interpolation only supports 4D input')
    if input.dtype.name not in ('float32', 'float64', 'float16', 'bfloat16'):
        raise NotImplementedError(f'"grid_sampler_{nd}d_cpu" not implemented for \'{_dtname(input)}\'')
    if grid._data.dtype != input._data.dtype:
        raise RuntimeError(f'expected scalar type {_dtname(input)} but found {_dtname(grid)}')
    out = _sample(input, grid, interpolation_mode, padding_mode, bool(align_corners))
    if interpolation_mode == 1 and grid.requires_grad:  # nearest: PyTorch gives the grid a zero gradient, not None
        shape = tuple(grid.shape)
        out = record(out._data, out._device, (out, grid), 'GridSamplerBackward', (
            lambda g: g, lambda g: _wrap(g._device.xp.zeros(shape, g._data.dtype), g._device)))
    return _renamed(out, f'GridSampler{nd}DBackward0', input, grid)


def _fixed_rank(nd):
    def sampler(input, grid, interpolation_mode, padding_mode, align_corners):
        if isinstance(input, Tensor) and isinstance(grid, Tensor) and input.ndim and grid.ndim and \
                input.shape[0] == grid.shape[0] and grid.shape[-1] == grid.ndim - 2 and \
                (input.ndim != nd + 2 or grid.ndim != nd + 2):
            raise RuntimeError(f'grid_sampler(): expected {nd + 2}D input and grid with same number of dimensions, '
                               f'but got input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}')
        return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)
    sampler.__name__ = sampler.__qualname__ = f'grid_sampler_{nd}d'
    sampler.__doc__ = f'torch.grid_sampler_{nd}d: grid_sampler on {nd + 2}-D input and grid.'
    return sampler


grid_sampler_2d = _fixed_rank(2)
grid_sampler_3d = _fixed_rank(3)


def grid_sample(input, grid, mode='bilinear', padding_mode='zeros', align_corners=None):
    """output[n, :, *o] = input[n] sampled at grid[n, *o] (x, y[, z] in [-1, 1]) by ``mode`` with ``padding_mode``
    outside the input."""
    if mode not in _MODES:
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but "
                         f"got: '{mode}'")
    if padding_mode not in _PADDINGS:
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        _align_warning()
        align_corners = False
    return grid_sampler(input, grid, _MODES[mode], _PADDINGS[padding_mode], align_corners)


def _align_warning():
    warnings.warn('Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. '
                  'Please specify align_corners=True if the old behavior is desired. See the documentation of '
                  'grid_sample for details.', stacklevel=3)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid (N, *spatial, nd) of the affine maps theta (N, nd, nd + 1) over an output of ``size``
    (N, C, H, W) or (N, C, D, H, W), for grid_sample."""
    if align_corners is None:
        _align_warning()
        align_corners = False
    if not isinstance(theta, Tensor):
        raise TypeError(f"affine_grid(): argument 'theta' must be Tensor, not {type(theta).__name__}")
    if theta.dtype.name not in ('float32', 'float64', 'float16', 'bfloat16'):
        raise ValueError(f'Expected theta to have floating point type, but got {theta.dtype}')
    size = [int(v) for v in size]
    if len(size) not in (4, 5):
        raise NotImplementedError(f'affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, '
                                  f'respectively. Got size {size}.')
    nd = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (nd, nd + 1):
        raise ValueError(f'Expected a batch of {nd}D affine matrices of shape Nx{nd}x{nd + 1} for size {size}. Got '
                         f'{theta.shape}.')
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn('Since version 1.3.0, affine_grid behavior has changed for unit-size grids when '
                      'align_corners=True. This is not an intended use case of affine_grid. See the documentation of '
                      'affine_grid for details.', stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f'Expected non-zero, positive output size. Got {size}')
    xp = theta._device.xp
    dt = theta._data.dtype
    axes = []
    for n in reversed(spatial):  # x (width) first, as grid_sample reads the grid
        v = xp.linspace(-1, 1, n, dtype=dt) if n > 1 else xp.zeros((n,), dt)
        axes.append(v if align_corners or n <= 1 else v * ((n - 1) / n))
    mesh = xp.meshgrid(*axes[::-1], indexing='ij')[::-1]                # each of shape spatial
    base = xp.stack(list(mesh) + [xp.ones(tuple(spatial), dt)], -1).reshape(1, -1, nd + 1).astype(dt)
    grid = _wrap(base, theta._device).matmul(theta.transpose(1, 2))         # (N, prod(spatial), nd)
    return _renamed(grid.reshape([size[0]] + spatial + [nd]), 'AffineGridGeneratorBackward0', theta)
