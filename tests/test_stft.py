"""ember.stft / ember.istft against PyTorch: values, gradients, padding modes, windows, errors."""
import warnings

import numpy as np
import pytest

import ember
from _parity import assert_parity, assert_both_raise, gradcheck_op


def _flat(lib, y):
    return lib.view_as_real(y.resolve_conj()) if y.is_complex() else y


STFT = [dict(n_fft=8), dict(n_fft=8, hop_length=3, win_length=6, window=True, normalized=True),
        dict(n_fft=8, center=False), dict(n_fft=8, pad_mode='constant'), dict(n_fft=8, pad_mode='replicate'),
        dict(n_fft=8, pad_mode='circular', onesided=False), dict(n_fft=30),
        dict(n_fft=8, center=False, win_length=4, align_to_window=True), dict(n_fft=7, hop_length=7)]


def _stft(kw):
    def fn(lib, x, *w):
        k = dict(kw, window=w[0] if w else None)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return _flat(lib, lib.stft(x, return_complex=True, **k))
    return fn


def _window(kw):
    return (np.hanning(kw.get('win_length', kw['n_fft']) + 2)[1:-1],) if kw.get('window') else ()


@pytest.mark.parametrize('kw', STFT, ids=[str(i) for i in range(len(STFT))])
@pytest.mark.parametrize('batch', ((), (2,)))
def test_stft_parity(kw, batch):
    x = np.random.default_rng(0).standard_normal(batch + (23,))
    assert_parity(_stft(kw), x, *_window(kw), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize('kw', STFT[:3], ids=['0', '1', '2'])
def test_stft_gradcheck(kw):
    gradcheck_op(_stft(kw), np.random.default_rng(1).standard_normal(20), *_window(kw))


def test_stft_complex_input_and_float32():
    x = ember.randn(2, 30)
    y = ember.stft(x, 8, window=ember.tensor(np.hanning(10)[1:-1], dtype=ember.float32), return_complex=True)
    assert y.dtype == ember.complex64 and y.shape == (2, 5, 16)
    z = x.to(ember.complex64).stft(8, window=ember.tensor(np.hanning(10)[1:-1], dtype=ember.float32))
    assert z.dtype == ember.complex64 and z.shape == (2, 8, 16)   # two-sided by default for complex input
    with pytest.warns(UserWarning, match='return_complex=False is deprecated'):
        r = ember.stft(x, 8, window=ember.tensor(np.hanning(10)[1:-1], dtype=ember.float32), return_complex=False)
    assert r.shape == (2, 5, 16, 2) and r.dtype == ember.float32


@pytest.mark.parametrize('call,msg', [
    (lambda E, x: E.stft(x, 8), 'stft requires the return_complex parameter be given for real inputs'),
    (lambda E, x: E.stft(x, 8, window=E.ones(5), return_complex=True),
     'expected a 1D window tensor of size equal to win_length=8'),
    (lambda E, x: E.stft(x.reshape(2, 2, 5), 4, return_complex=True), 'expected a 1D or 2D tensor'),
    (lambda E, x: E.stft(x, 8, hop_length=0, return_complex=True), 'expected hop_length > 0'),
    (lambda E, x: E.stft(x, 8, win_length=9, return_complex=True), 'expected 0 < win_length <= n_fft'),
    (lambda E, x: E.stft(x, 30, center=False, return_complex=True), 'expected 0 < n_fft < 20, but got n_fft=30'),
    (lambda E, x: E.stft(x, 8, align_to_window=True, return_complex=True),
     'stft align_to_window should only be set when center = false'),
    (lambda E, x: E.stft(x, 8, onesided=True, return_complex=True, window=E.ones(8).to(E.complex64)),
     'Cannot have onesided output if window or input is complex'),
    (lambda E, x: E.istft(x.reshape(4, 5), 8), 'istft requires a complex-valued input tensor'),
    (lambda E, x: E.istft(x.reshape(4, 5).to(E.complex64), 8),
     'expected the frequency dimension \\(3rd to the last\\) of the input tensor to match n_fft / 2 \\+ 1'),
])
def test_errors(call, msg):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert_both_raise(lambda L: call(L, L.randn(20)), RuntimeError, match=msg)  # PyTorch: the same message


ISTFT = [dict(n_fft=8), dict(n_fft=8, length=23), dict(n_fft=8, length=26), dict(n_fft=8, length=15),
         dict(n_fft=8, hop_length=3, win_length=6, window=True, normalized=True), dict(n_fft=8, window=True,
                                                                                   center=False),
         dict(n_fft=8, onesided=False), dict(n_fft=8, onesided=False, return_complex=True)]


@pytest.mark.parametrize('kw', ISTFT, ids=[str(i) for i in range(len(ISTFT))])
def test_istft_parity_and_round_trip(kw):
    skw = {k: v for k, v in kw.items() if k in ('n_fft', 'hop_length', 'win_length', 'normalized', 'onesided',
                                                 'center')}
    ikw = {k: v for k, v in kw.items() if k != 'window'}

    def fn(lib, x, *w):
        win = w[0] if w else None
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            spec = lib.stft(x, window=win, return_complex=True, **skw)
            return _flat(lib, lib.istft(spec, window=win, **ikw))
    x = np.random.default_rng(2).standard_normal((2, 23))
    assert_parity(fn, x, *_window(kw), rtol=1e-9, atol=1e-10)
    if 'length' in kw and kw['length'] <= 23 and not kw.get('return_complex'):
        out = fn(ember, ember.tensor(x), *[ember.tensor(w) for w in _window(kw)])
        np.testing.assert_allclose(out.numpy(), x[:, :kw['length']], atol=1e-10)


def test_istft_gradcheck():
    w = np.hanning(10)[1:-1]

    def fn(lib, re, im, win):
        return lib.istft(lib.complex(re, im), 8, hop_length=2, window=win, length=13)
    rng = np.random.default_rng(3)
    re, im = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    gradcheck_op(fn, re, im, w)
    assert_parity(fn, re, im, w, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize('pad_mode', ('reflect', 'replicate', 'circular', 'constant'))
def test_second_derivatives(pad_mode):
    """Padding, framing and overlap-add are recorded ops whose backward ops are recorded too."""
    rng = np.random.default_rng(5)
    x = ember.tensor(rng.standard_normal(11), requires_grad=True)
    w = ember.tensor(np.hanning(8) + 0.1, requires_grad=True)

    def f(x, w):
        spec = ember.stft(x, 6, hop_length=2, win_length=5, window=w[:5], pad_mode=pad_mode, return_complex=True)
        y = ember.istft(spec * spec.abs(), 6, hop_length=2, win_length=5, window=w[:5] + 1, length=11)
        return (y * y).sum()
    assert ember.autograd.gradgradcheck(f, (x, w))
