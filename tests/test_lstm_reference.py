"""The fused LSTM layer (ember/ops/rnn.py lstm_layer) pinned to its reference, lstm_cell over the steps: values and
gradients of every input, float32 and float64, padded and packed, both directions, with and without projection;
the reference cell against PyTorch's LSTMCell."""
import numpy as np
import pytest

import ember
from ember.ops import rnn as R

from conftest import needs_torch, torch


def _args(dtype, B, H, P, batch_sizes, proj, seed=0):
    rng = np.random.default_rng(seed)
    N = 4 * B if batch_sizes is None else sum(batch_sizes)
    PP = P if proj else H
    mk = lambda *s: ember.tensor((rng.standard_normal(s) * 0.7).astype(dtype), requires_grad=True)  # noqa: E731
    return (mk(N, 4 * H), mk(4 * H, PP), mk(B, PP), mk(B, H), mk(PP, H) if proj else None)


def _grads(fn, args, seed, skip=()):
    """Outputs of fn(*args) and the gradients of every input for fixed cotangents (outputs in ``skip`` get none)."""
    outs = fn(*args)
    rng = np.random.default_rng(seed)
    pairs = [(o, ember.tensor(rng.standard_normal(tuple(o.shape)).astype(o.dtype.name))) for i, o in enumerate(outs)
             if i not in skip]
    ins = [a for a in args if a is not None]
    gs = ember.autograd.grad([o for o, _ in pairs], ins, [g for _, g in pairs], allow_unused=True)
    return outs, gs


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('batch_sizes', [None, [3, 3, 2, 1]], ids=['padded', 'packed'])
@pytest.mark.parametrize('reverse', [False, True])
@pytest.mark.parametrize('proj', [False, True])
@pytest.mark.parametrize('skip', [(), (0,), (1, 2)], ids=['all-outputs', 'no-output-grad', 'output-only'])
def test_fused_lstm_layer_matches_reference(dtype, batch_sizes, reverse, proj, skip):
    args = _args(dtype, 3, 4, 2, batch_sizes, proj)
    fused = _grads(lambda *a: R.lstm_layer(*a, batch_sizes=batch_sizes, reverse=reverse), args, 1, skip)
    ref = _grads(lambda *a: R.lstm_layer_composite(*a, batch_sizes=batch_sizes, reverse=reverse), args, 1, skip)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)
    for a, b in zip(fused[0] + tuple(fused[1]), ref[0] + tuple(ref[1])):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **tol)


def test_fused_lstm_layer_is_one_ordinary_node():
    args = _args(np.float64, 2, 3, 2, None, False)
    out, h, c = R.lstm_layer(*args)
    assert out.grad_fn is h.grad_fn is c.grad_fn and type(out.grad_fn) is ember.autograd.graph.Node
    assert out.grad_fn.name() == 'LstmBackward0' and (out._out, h._out, c._out) == (0, 1, 2)


@needs_torch
@pytest.mark.parametrize('proj', [False, True])
def test_lstm_cell_reference_matches_pytorch(proj):
    rng = np.random.default_rng(3)
    B, I, H, P = 3, 5, 4, 2
    PP = P if proj else H
    x, h, c = rng.standard_normal((B, I)), rng.standard_normal((B, PP)), rng.standard_normal((B, H))
    tm = torch.nn.LSTM(I, H, proj_size=P if proj else 0).double()
    with torch.no_grad():
        want_out, (want_h, want_c) = tm(torch.tensor(x)[None], (torch.tensor(h)[None], torch.tensor(c)[None]))
    W = {k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()}
    a = ember.tensor(x) @ W['weight_ih_l0'].t() + W['bias_ih_l0'] + W['bias_hh_l0'] + ember.tensor(h) @ \
        W['weight_hh_l0'].t()
    got_h, got_c = R.lstm_cell(a, ember.tensor(c), W['weight_hr_l0'] if proj else None)
    np.testing.assert_allclose(got_h.numpy(), want_h[0].numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_c.numpy(), want_c[0].numpy(), rtol=1e-12, atol=1e-14)
