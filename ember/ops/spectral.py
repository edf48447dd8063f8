"""Short-time Fourier transforms (stft, istft): framing, windows and overlap-add around the kernels of ops/fft.py."""
import warnings

from .._dtype import int64, SCALAR_NAMES
from ._util import Tensor, record, _wrap
from .complex import view_as_real
from .conv import pad_constant
from .fft import fft_c2c, fft_r2c, fft_c2r



def _desc(x, braces=False):
    """How PyTorch names a tensor in stft/istft errors: torch.DoubleTensor[29], CPUComplexDoubleType{[16]}."""
    name = SCALAR_NAMES.get(x._data.dtype.name, x._data.dtype.name)
    shape = f'{{{list(x.shape)}}}' if braces else f'{list(x.shape)}'
    return f'CPU{name}Type{shape}' if x._data.dtype.kind == 'c' else f'torch.{name}Tensor{shape}'


def _edge_index(xp, n, pad, mode, batch):
    """Indices that pad a length-n axis by ``pad`` on both sides as reflect/replicate/circular padding does."""
    i = xp.arange(-pad, n + pad)
    if mode == 'reflect':
        if pad >= n:
            raise RuntimeError(f'Argument #4: Padding size should be less than the corresponding input dimension, '
                               f'but got: padding ({pad}, {pad}) at dimension 2 of input [1, {batch}, {n}]')
        i = xp.abs(i)
        i = xp.where(i >= n, 2 * (n - 1) - i, i)
    elif mode == 'replicate':
        i = xp.clip(i, 0, n - 1)
    elif mode == 'circular':
        if pad > n:
            raise RuntimeError('Padding value causes wrapping around more than once.')
        i = i % n
    else:
        raise NotImplementedError(f"stft: pad_mode '{mode}' is not one of constant, reflect, replicate, circular")
    return i.astype(int64.np)


def _pad_signal(x, pad, mode):
    if mode == 'constant':
        return pad_constant(x, ((pad, pad),))
    idx = _edge_index(x._device.xp, x.shape[-1], pad, mode, x.shape[0] if x.ndim == 2 else 1)
    return _edge_pad(x, idx, pad, mode == 'replicate')


def _edge_pad(x, idx, pad, same):
    """x's last axis gathered at ``idx`` (the padded signal); recorded, its adjoint sums each edge back."""
    n = x.shape[-1]
    return record(x._device.xp.take(x._data, idx, axis=-1), x._device, (x,), 'ReflectionPad1DBackward0',
                  (lambda g: _edge_unpad(g, idx, pad, n, same),), holds=True)


def _edge_unpad(g, idx, pad, n, same):
    """The adjoint of _edge_pad: the centre plus each edge added where it was read from (one index for all of a
    replicated edge; distinct indices for reflected and circular ones)."""
    a = g._data
    out = a[..., pad:pad + n].copy()
    for part, ids in ((a[..., :pad], idx[:pad]), (a[..., pad + n:], idx[pad + n:])):
        if not pad:
            continue
        if same:
            out[..., int(ids[0])] += part.sum(-1)
        else:
            out[..., ids] += part
    return record(out, g._device, (g,), 'ReflectionPad1DBackwardBackward0', (lambda gg: _edge_pad(gg, idx, pad, same),),
                  holds=True)


def _frames(x, size, hop):
    """Every ``size``-long frame of the last axis, ``hop`` apart, as (..., n_frames, size): one strided copy."""
    xp, a = x._device.xp, x._data
    count = (a.shape[-1] - size) // hop + 1
    view = xp.lib.stride_tricks.as_strided(a, a.shape[:-1] + (count, size),
                                           a.strides[:-1] + (hop * a.strides[-1], a.strides[-1]))
    rest = a.shape[-1] - (size + hop * (count - 1))  # a tail no frame reaches gets a zero gradient
    return record(xp.ascontiguousarray(view), x._device, (x,), 'UnfoldBackward0',
                  (lambda g: pad_constant(_overlap_add(g, hop), ((0, rest),)) if rest else _overlap_add(g, hop),))


def _real_name(np_dtype):
    return 'float32' if np_dtype.name in ('float32', 'complex64') else 'float64'


def _window(window, n_fft, win_length, like, fn):
    """The window zero-padded (centred) to n_fft; None for the rectangular one."""
    if window is None:
        if win_length == n_fft:
            return None
        xp = like._device.xp
        window = _wrap(xp.ones(win_length, dtype=_real_name(like._data.dtype)), like._device)
    elif window.ndim != 1 or window.shape[0] != win_length:
        raise RuntimeError(f'{fn}: expected a 1D window tensor of size equal to win_length={win_length}, but got '
                           f'window with size {list(window.shape)}')
    left = (n_fft - win_length) // 2
    if left or n_fft - win_length - left:
        window = pad_constant(window, ((left, n_fft - win_length - left),))
    return window


def stft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, pad_mode='reflect',
         normalized=False, onesided=None, return_complex=None, align_to_window=None):
    if window is None:
        warnings.warn('A window was not provided. A rectangular window will be applied,which is known to cause '
                      'spectral leakage. Other windows such as torch.hann_window or torch.hamming_window are '
                      'recommended to reduce spectral leakage.To suppress this warning and use a rectangular window, '
                      'explicitly set `window=torch.ones(n_fft, device=<device>)`.', UserWarning, stacklevel=2)
    cplx = input._data.dtype.kind == 'c' or window is not None and window._data.dtype.kind == 'c'
    if return_complex is None:
        if not cplx:
            raise RuntimeError('stft requires the return_complex parameter be given for real inputs, and will '
                               'further require that return_complex=True in a future PyTorch release.')
        return_complex = True
    if align_to_window is not None and center:
        raise RuntimeError('stft align_to_window should only be set when center = false')
    if input._data.dtype.kind in 'biu':
        raise RuntimeError(f'stft: expected a tensor of floating point or complex values, got {input.dtype}')
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    x = input
    if center:
        if x.ndim in (1, 2):
            x = _pad_signal(x, n_fft // 2, pad_mode)
    fn = (f'stft({_desc(x)}, n_fft={n_fft}, hop_length={hop}, win_length={win}, window='
          f'{"None" if window is None else _desc(window, True)}, '
          f'normalized={int(normalized)}, onesided={"None" if onesided is None else int(onesided)}, '
          f'return_complex={int(return_complex)}, align_to_window={align_to_window}) ')
    if x.ndim not in (1, 2):
        raise RuntimeError(fn + ': expected a 1D or 2D tensor')
    length = x.shape[-1]
    if not 0 < n_fft <= length:
        # sic: PyTorch shows win_length as n_fft here
        raise RuntimeError(fn + f': expected 0 < n_fft < {length}, but got n_fft={win}')
    if hop <= 0:
        raise RuntimeError(fn + f': expected hop_length > 0, but got hop_length={hop}')
    if not 0 < win <= n_fft:
        raise RuntimeError(fn + f': expected 0 < win_length <= n_fft, but got win_length={win}')
    w = _window(window, n_fft, win, x, fn)
    if align_to_window:  # frames are placed by the (shorter) window, not by its n_fft-long zero padding
        left = (n_fft - win) // 2
        x = pad_constant(x, ((left, n_fft - win - left),))
    if onesided is None:
        onesided = not cplx
    elif onesided and cplx:
        raise RuntimeError('Cannot have onesided output if window or input is complex')
    frames = _frames(x, n_fft, hop)  # (..., n_frames, n_fft)
    if w is not None:
        frames = frames * w
    scale = 'sqrt' if normalized else 'none'
    if frames._data.dtype.kind == 'c':
        spec = fft_c2c(frames, (frames.ndim - 1,), True, scale)
    else:
        spec = fft_r2c(frames, (frames.ndim - 1,), True, scale, onesided)
    spec = spec.transpose(-1, -2)
    if not return_complex:
        warnings.warn('stft with return_complex=False is deprecated. In a future pytorch release, stft will return '
                      'complex tensors for all inputs, and return_complex=False will raise an error.\nNote: you can '
                      'still call torch.view_as_real on the complex output to recover the old return format.',
                      UserWarning, stacklevel=2)
        return view_as_real(spec)
    return spec


def _overlap_add_array(xp, frames, hop):
    """(..., n_frames, n_fft) frames summed into one signal, frame t starting at t * hop: hop-long blocks, one
    vectorised add per block of a frame (n_fft / hop of them) rather than one per frame."""
    *lead, count, size = frames.shape
    per = -(-size // hop)
    buf = xp.zeros(tuple(lead) + (count - 1 + per, hop), dtype=frames.dtype)
    for j in range(per):
        seg = frames[..., j * hop:(j + 1) * hop]
        buf[..., j:j + count, :seg.shape[-1]] += seg
    return buf.reshape(tuple(lead) + (-1,))[..., :size + hop * (count - 1)]


def _overlap_add(frames, hop):
    """The adjoint of framing (unfold), recorded so that its gradient is framing again."""
    size = frames.shape[-1]
    return record(_overlap_add_array(frames._device.xp, frames._data, hop), frames._device, (frames,),
                  'OverlapAddBackward0', (lambda g: _frames(g, size, hop),))


def istft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, normalized=False,
          onesided=None, length=None, return_complex=False):
    if window is None:
        warnings.warn('A window was not provided. A rectangular window will be applied.Please provide the same window '
                      'used by stft to make the inversion lossless.To suppress this warning and use a rectangular '
                      'window, explicitly set `window=torch.ones(n_fft, device=<device>)`.', UserWarning, stacklevel=2)
    if not isinstance(input, Tensor) or input._data.dtype.kind != 'c':
        raise RuntimeError('istft requires a complex-valued input tensor matching the output from stft with '
                           'return_complex=True.')
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    fn = (f'istft({_desc(input)}, n_fft={n_fft}, hop_length={hop}, win_length={win}, window='
          f'{"None" if window is None else _desc(window, True)}, '
          f'center={int(center)}, normalized={int(normalized)}, '
          f'onesided={"None" if onesided is None else int(onesided)}'
          f', length={"None" if length is None else length}, return_complex={int(return_complex)}) ')
    if input.ndim not in (2, 3):
        raise RuntimeError(fn + f': expected a tensor with 2 or 3 dimensions of complex, but got '
                                f'{input.ndim}')
    batched = input.ndim == 3
    x = input if batched else input.unsqueeze(0)
    n_frames, fft_size = x.shape[-1], x.shape[-2]
    if onesided is None:
        onesided = fft_size != n_fft
    if onesided:
        if n_fft // 2 + 1 != fft_size:
            raise RuntimeError(fn + f': expected the frequency dimension (3rd to the last) of the input tensor to '
                               f'match n_fft / 2 + 1 when onesided=True, but got {fft_size}')
    elif n_fft != fft_size:
        raise RuntimeError(fn + f': expected the frequency dimension (3rd to the last) of the input tensor to match '
                           f'n_fft when onesided=False, but got {fft_size}')
    if not 0 < hop <= win:
        raise RuntimeError(fn + ': expected 0 < hop_length <= win_length')
    if not 0 < win <= n_fft:
        raise RuntimeError(fn + f': expected 0 < win_length <= n_fft, but got win_length={win}')
    cplx_window = window is not None and window._data.dtype.kind == 'c'
    if return_complex:
        if onesided:
            raise RuntimeError(fn + ': cannot have onesided output if window or input is complex')
    elif cplx_window:
        raise RuntimeError(fn + ': Complex windows are incompatible with return_complex=False')
    w = _window(window, n_fft, win, x, fn)
    scale = 'sqrt' if normalized else 'n'
    spec = x.transpose(-1, -2)  # (B, n_frames, freq)
    if return_complex:
        frames = fft_c2c(spec, (2,), False, scale)
    else:  # PyTorch reads only the first half of a two-sided spectrum here
        frames = fft_c2r(spec if onesided else spec[..., :n_fft // 2 + 1], (2,), False, scale, n_fft)
    xp = x._device.xp
    if w is not None:  # the envelope divided out is the overlap-added squared window (a function of it: its grad)
        frames = frames * w
        wsq = w * w
    else:
        wsq = _wrap(xp.ones(n_fft, dtype=_real_name(frames._data.dtype)), x._device)
    y = _overlap_add(frames, hop)  # (B, expected)
    env = _overlap_add(wsq.expand(n_frames, n_fft), hop)
    expected = n_fft + hop * (n_frames - 1)
    start = n_fft // 2 if center else 0
    end = expected if length is None and not center else (expected - n_fft // 2 if length is None else start + length)
    end = min(end, expected)
    y = y[..., start:end]
    env = env[start:end]
    if env.numel() and float(xp.abs(env._data).min()) < 1e-11:
        raise RuntimeError(fn + 'window overlap add min: 1\n[ CPUBoolType{} ]')
    y = y / env
    if length is not None and y.shape[-1] < length:
        y = pad_constant(y, ((0, length - y.shape[-1]),))
    return y if batched else y.squeeze(0)
