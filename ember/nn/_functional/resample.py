"""ember.nn.functional: padding, interpolation and pixel shuffle, with PyTorch's signatures."""
import math

from ..._tensor import Tensor
from ...ops import conv as _C
from ...ops._util import _wrap, renamed as _renamed
from ._spatial import _check_tensor, _sizes_str
from .pooling import _adaptive_avg, _apply_along

__all__ = ['interpolate', 'upsample', 'upsample_nearest', 'upsample_bilinear', 'pad', 'pixel_shuffle',
           'pixel_unshuffle', 'channel_shuffle']


# ---- padding ----------------------------------------------------------------------------------------------------

def pad(input, pad, mode='constant', value=None):
    """Pad the last len(pad)//2 dims: pad = (last_lo, last_hi, second_last_lo, ...); negative amounts crop.

    Modes: 'constant' (value, default 0), 'reflect' (mirror without the edge), 'replicate' (edge), 'circular'.
    """
    _check_tensor(input, 'pad')
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError('Padding length must be divisible by 2')
    n = len(pad) // 2
    if n > input.ndim:
        raise RuntimeError(f'Padding length should be less than or equal to two times the input dimension but got '
                           f'padding length {len(pad)} and input of dimension {input.ndim}')
    pairs = tuple((pad[2 * i], pad[2 * i + 1]) for i in range(n))[::-1]     # in dim order
    if mode == 'constant':
        return _C.pad_constant(input, pairs, 0 if value is None else value)
    if mode not in ('reflect', 'replicate', 'circular'):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if not (n <= 3 and input.ndim in (n + 1, n + 2)):
        raise NotImplementedError(
            f'Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\nSupported combinations for '
            f'non-constant padding:\n  - 2D or 3D input: padding size = 2 (pads last dimension)\n  - 3D or 4D input: '
            f'padding size = 4 (pads last 2 dimensions)\n  - 4D or 5D input: padding size = 6 (pads last 3 '
            f'dimensions)')
    xp = input._device.xp
    lead = input.ndim - n
    key = [slice(None)] * lead
    for d, (a, b) in enumerate(pairs):
        size = input.shape[lead + d]
        if mode == 'reflect' and (a >= size or b >= size):
            raise RuntimeError(f'Argument #4: Padding size should be less than the corresponding input dimension, '
                               f'but got: padding ({a}, {b}) at dimension {lead + d} of input {list(input.shape)}')
        if mode == 'circular' and (a > size or b > size):
            raise RuntimeError('Padding value causes wrapping around more than once.')
        if mode == 'replicate' and size == 0 and (a > 0 or b > 0):
            raise RuntimeError(f'padding size is expected to be less than the input size for replicate padding '
                               f'(input of shape {list(input.shape)})')
        i = xp.arange(-a, size + b)
        if mode == 'circular':  # negative amounts crop first; the wrap then runs within what is left
            lo, m = max(-a, 0), size - max(-a, 0) - max(-b, 0)
            i = lo + xp.arange(-max(a, 0), m + max(b, 0)) % max(m, 1)
        elif mode == 'reflect':
            period = 2 * (size - 1) if size > 1 else 1
            i = xp.abs(i) % period
            i = xp.where(i >= size, period - i, i)
        elif mode == 'replicate':
            i = xp.clip(i, 0, size - 1)
        shape = [1] * n
        shape[d] = -1
        key.append(i.reshape(shape))
    names = {'reflect': 'ReflectionPad{}DBackward0', 'replicate': 'ReplicationPad{}DBackward0'}
    return _renamed(input[tuple(key)], names[mode].format(n), input) if mode in names else input[tuple(key)]


# ---- interpolation ----------------------------------------------------------------------------------------------

_MODES = ('nearest', 'linear', 'bilinear', 'bicubic', 'trilinear', 'area', 'nearest-exact')


def _interp_matrix(xp, S, O, scale, align_corners, mode, dtype):
    """(O, S) matrix of the 1-D linear or cubic interpolation weights PyTorch uses."""
    i = xp.arange(O, dtype='float64')
    if align_corners:
        sc = (S - 1) / (O - 1) if O > 1 else 0.0
        src = i * sc
    else:
        sc = scale if scale is not None else S / O
        src = (i + 0.5) * sc - 0.5
        if mode != 'cubic':
            src = xp.maximum(src, 0.0)
    cols = xp.arange(S)[None, :]
    M = xp.zeros((O, S), dtype='float64')
    if mode == 'cubic':
        f = xp.floor(src)
        t = src - f
        f = f.astype('int64')
        A = -0.75
        ws = [((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A,
              ((A + 2) * t - (A + 3)) * t * t + 1,
              ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1]
        ws.append(1 - ws[0] - ws[1] - ws[2])
        for j, wj in enumerate(ws):          # four taps; border taps clamp (and so add up) as PyTorch's do
            M += (xp.clip(f - 1 + j, 0, S - 1)[:, None] == cols) * wj[:, None]
    else:
        i0 = xp.minimum(xp.floor(src).astype('int64'), S - 1)
        lam = src - i0
        i1 = xp.minimum(i0 + 1, S - 1)
        M += (i0[:, None] == cols) * (1 - lam)[:, None]
        M += (i1[:, None] == cols) * lam[:, None]
    return M.astype(dtype)


_UPSAMPLE_NAMES = {'nearest': 'UpsampleNearest{}DBackward0', 'nearest-exact': 'UpsampleNearestExact{}DBackward0',
                   'linear': 'UpsampleLinear1DBackward0', 'bilinear': 'UpsampleBilinear2DBackward0',
                   'bicubic': 'UpsampleBicubic2DBackward0', 'trilinear': 'UpsampleTrilinear3DBackward0'}


def interpolate(input, size=None, scale_factor=None, mode='nearest', align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Resize (N, C, *spatial) by ``size`` or ``scale_factor``; the result's node is named as PyTorch's kernel."""
    out = _interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    if mode in _UPSAMPLE_NAMES and isinstance(input, Tensor):
        _renamed(out, _UPSAMPLE_NAMES[mode].format(input.ndim - 2), input)
    return out


def _interpolate(input, size=None, scale_factor=None, mode='nearest', align_corners=None,
                 recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims: nearest / nearest-exact (index lookup), (bi/tri)linear and bicubic (separable
    interpolation matrices applied with matmul), area (adaptive average pooling)."""
    _check_tensor(input, 'interpolate')
    nd = input.ndim - 2
    if mode not in _MODES or nd not in (1, 2, 3):
        raise NotImplementedError(f'Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for '
                                  f'the modes: nearest | linear | bilinear | bicubic | trilinear | area | '
                                  f'nearest-exact (got {mode})')
    if mode in ('nearest', 'area', 'nearest-exact'):
        if align_corners is not None:
            raise ValueError('align_corners option can only be set with the interpolating modes: linear | '
                             'bilinear | bicubic | trilinear')
    elif align_corners is None:
        align_corners = False
    need = {'linear': 1, 'bilinear': 2, 'bicubic': 2, 'trilinear': 3}.get(mode)
    if need is not None and need != nd:
        raise NotImplementedError(f'Got {input.ndim}D input, but {mode} mode needs {need + 2}D input')
    if antialias:
        raise NotImplementedError('interpolate(antialias=True) is not supported by ember')
    S = input.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError('only one of size or scale_factor should be defined')
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != nd:
                raise ValueError(f'Input and output must have the same number of spatial dimensions, but got input '
                                 f'with spatial dimensions of {list(S)} and output size of {size}. Please provide '
                                 f'input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) '
                                 f'format.')
            OS = tuple(int(s) for s in size)
        else:
            OS = (int(size),) * nd
        scales = [None] * nd
    elif scale_factor is not None:
        sf = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * nd
        if len(sf) != nd:
            raise ValueError(f'Input and scale_factor must have the same number of spatial dimensions, but got input '
                             f'with spatial dimensions of {list(S)} and scale_factor of shape {scale_factor}. Please '
                             f'provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, '
                             f'...,sK) format.')
        OS = tuple(int(math.floor(float(s) * float(f))) for s, f in zip(S, sf))
        scales = [None] * nd if recompute_scale_factor else [1.0 / float(f) for f in sf]
    else:
        raise ValueError('either size or scale_factor should be defined')
    if any(o <= 0 for o in OS):
        raise RuntimeError(f'Input and output sizes should be greater than 0, but got input ({_sizes_str(S)}) and '
                           f'output ({_sizes_str(OS)})')
    if mode == 'area':
        return _adaptive_avg(input, OS, nd)
    xp = input._device.xp
    if mode in ('nearest', 'nearest-exact'):
        key = [slice(None), slice(None)]
        f32 = xp.float32   # float32 index arithmetic, as PyTorch's nearest kernels do
        for d in range(nd):
            s, o = S[d], OS[d]
            sc = f32(scales[d]) if scales[d] is not None else f32(s) / f32(o)
            dst = xp.arange(o, dtype=f32)
            if mode == 'nearest-exact':
                dst = dst + f32(0.5)
            src = xp.minimum(xp.floor(dst * sc).astype('int64'), s - 1)
            shape = [1] * nd
            shape[d] = -1
            key.append(src.reshape(shape))
        return input[tuple(key)]
    kind = 'cubic' if mode == 'bicubic' else 'linear'
    out = input
    for d in range(nd):
        M = _interp_matrix(xp, S[d], OS[d], scales[d], align_corners, kind, input._data.dtype)
        out = _apply_along(out, _wrap(M, input._device), 2 + d)
    return out


def upsample(input, size=None, scale_factor=None, mode='nearest', align_corners=None):
    """Deprecated alias of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode='nearest')


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode='bilinear', align_corners=True)


# ---- pixel shuffle ----------------------------------------------------------------------------------------------

def pixel_shuffle(input, upscale_factor):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    r = int(upscale_factor)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f'pixel_shuffle expects its input\'s \'channel\' dimension to be divisible by the square of '
                           f'upscale_factor, but input.size(-3)={c} is not divisible by {r * r}')
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return _renamed(x.reshape(*lead, c // (r * r), h * r, w * r), 'PixelShuffleBackward0', input)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    r = int(downscale_factor)
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f'pixel_unshuffle expects height and width to be divisible by downscale_factor, but got '
                           f'{h} x {w} and {r}')
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return _renamed(x.reshape(*lead, c * r * r, h // r, w // r), 'PixelUnshuffleBackward0', input)


def channel_shuffle(input, groups):
    """(N, C, *) with C = g*k channels read as a (g, k) grid and written back transposed (k, g)."""
    _check_tensor(input, 'channel_shuffle')
    groups = int(groups)
    if groups <= 0:
        raise RuntimeError(f'Number of groups to divide channels in must be positive. Value of groups:{groups}')
    if input.ndim <= 2:
        raise RuntimeError(f'channel_shuffle expects input with > 2 dims, but got input with sizes '
                           f'{list(input.shape)}')
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(f'Number of channels must be divisible by groups. Got {c} channels and {groups} groups.')
    x = input.reshape(n, groups, c // groups, *rest).transpose(1, 2)
    return _renamed(x.reshape(n, c, *rest), 'ChannelShuffleBackward0', input)
