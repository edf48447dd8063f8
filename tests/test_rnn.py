"""RNN, LSTM, GRU, their cells, the fused recurrent ops and nn.utils.rnn packing: gradcheck and PyTorch parity."""
import copy
import math
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.autograd import gradcheck, gradgradcheck
from ember.nn.utils import rnn as R
from ember.ops import rnn as F_rnn
from conftest import torch, needs_torch
from _parity import Rnd, e64 as _e64, torch64 as _t64, close as _close, copy_from_torch as _copy_from_torch
from _parity import check_param_grads as _check_param_grads

rnd = Rnd(1234)


def _pair(cls, *args, **kw):
    tm = getattr(torch.nn, cls)(*args, **kw).double()
    em = getattr(nn, cls)(*args, dtype=ember.float64, **kw)
    _copy_from_torch(em, tm)
    return em, tm


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


# ---- fused ops: gradcheck, double backward -------------------------------------------------------------------

PACKINGS = [None, [3, 3, 2, 1]]


@pytest.mark.parametrize('batch_sizes', PACKINGS)
@pytest.mark.parametrize('reverse', [False, True])
@pytest.mark.parametrize('proj', [False, True])
def test_lstm_layer_gradcheck(batch_sizes, reverse, proj):
    B, H, P = 3, 3, 2
    N = 12 if batch_sizes is None else sum(batch_sizes)
    PP = P if proj else H
    args = (_e64(rnd(N, 4 * H)), _e64(rnd(4 * H, PP)), _e64(rnd(B, PP)), _e64(rnd(B, H)),
            _e64(rnd(PP, H)) if proj else None)

    def f(*a):
        return F_rnn.lstm_layer(*a, batch_sizes=batch_sizes, reverse=reverse)
    ref = F_rnn.lstm_layer_composite(*args, batch_sizes=batch_sizes, reverse=reverse)
    for x, y in zip(f(*args), ref):
        _close(x, y, 1e-12)
    assert gradcheck(f, args)


@pytest.mark.parametrize('batch_sizes', PACKINGS)
@pytest.mark.parametrize('reverse', [False, True])
@pytest.mark.parametrize('bias', [True, False])
def test_gru_layer_gradcheck(batch_sizes, reverse, bias):
    B, H = 3, 3
    N = 12 if batch_sizes is None else sum(batch_sizes)
    args = (_e64(rnd(N, 3 * H)), _e64(rnd(3 * H, H)), _e64(rnd(3 * H)) if bias else None, _e64(rnd(B, H)))

    def f(*a):
        return F_rnn.gru_layer(*a, batch_sizes=batch_sizes, reverse=reverse)
    for x, y in zip(f(*args), F_rnn.gru_layer_composite(*args, batch_sizes=batch_sizes, reverse=reverse)):
        _close(x, y, 1e-12)
    assert gradcheck(f, args)


@pytest.mark.parametrize('batch_sizes', PACKINGS)
@pytest.mark.parametrize('reverse', [False, True])
@pytest.mark.parametrize('nonlinearity', ['tanh', 'relu'])
def test_rnn_layer_gradcheck(batch_sizes, reverse, nonlinearity):
    B, H = 3, 3
    N = 12 if batch_sizes is None else sum(batch_sizes)
    args = (_e64(rnd(N, H)), _e64(rnd(H, H)), _e64(rnd(B, H)))

    def f(*a):
        return F_rnn.rnn_layer(*a, nonlinearity, batch_sizes=batch_sizes, reverse=reverse)
    for x, y in zip(f(*args), F_rnn.rnn_layer_composite(*args, nonlinearity, batch_sizes, reverse)):
        _close(x, y, 1e-12)
    assert gradcheck(f, args)


def test_fused_double_backward():
    bs = [2, 2, 1]
    lstm = (_e64(rnd(5, 8)), _e64(rnd(8, 2)), _e64(rnd(2, 2)), _e64(rnd(2, 2)))
    assert gradgradcheck(lambda *a: F_rnn.lstm_layer(*a, batch_sizes=bs), lstm)
    gru = (_e64(rnd(5, 6)), _e64(rnd(6, 2)), _e64(rnd(6)), _e64(rnd(2, 2)))
    assert gradgradcheck(lambda *a: F_rnn.gru_layer(*a, batch_sizes=bs, reverse=True), gru)
    rnn = (_e64(rnd(5, 2)), _e64(rnd(2, 2)), _e64(rnd(2, 2)))
    assert gradgradcheck(lambda *a: F_rnn.rnn_layer(*a, 'tanh', batch_sizes=bs), rnn)


def test_cells_gradcheck():
    for cell in (nn.RNNCell(3, 2, dtype=ember.float64), nn.RNNCell(3, 2, nonlinearity='relu', dtype=ember.float64),
                 nn.GRUCell(3, 2, dtype=ember.float64)):
        x, h = _e64(rnd(4, 3)), _e64(rnd(4, 2))
        assert gradcheck(lambda x, h, w: cell(x, h), (x, h, cell.weight_hh))
    cell = nn.LSTMCell(3, 2, dtype=ember.float64)
    x, h, c = _e64(rnd(4, 3)), _e64(rnd(4, 2)), _e64(rnd(4, 2))
    assert gradcheck(lambda x, h, c, w: cell(x, (h, c)), (x, h, c, cell.weight_ih))


def test_inplace_on_rnn_output_fails_backward():
    m = nn.RNN(3, 4)
    out, h = m(ember.randn(5, 2, 3))
    out.mul_(2)
    with pytest.raises(RuntimeError, match='modified by an inplace operation'):
        out.sum().backward()


def test_second_backward_refused_without_retain_graph():
    m = nn.LSTM(3, 4)
    out, _ = m(ember.randn(5, 2, 3))
    loss = out.sum()
    loss.backward(retain_graph=True)
    g = m.weight_hh_l0.grad.clone()
    loss.backward()
    _close(m.weight_hh_l0.grad, 2 * g.numpy(), 1e-5)
    out, _ = m(ember.randn(5, 2, 3))
    loss = out.sum()
    loss.backward()
    with pytest.raises(RuntimeError, match='backward through the graph a second time'):
        loss.backward()


# ---- parameters, init, repr ---------------------------------------------------------------------------------------

def test_parameter_names_shapes_and_init():
    m = nn.LSTM(3, 8, num_layers=2, bidirectional=True, proj_size=4)
    names = [n for n, _ in m.named_parameters()]
    expect = []
    for layer in range(2):
        for sfx in ('', '_reverse'):
            expect += [f'{k}_l{layer}{sfx}' for k in ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh', 'weight_hr')]
    assert names == expect
    assert tuple(m.weight_ih_l0.shape) == (32, 3)
    assert tuple(m.weight_hh_l0.shape) == (32, 4)
    assert tuple(m.weight_ih_l1.shape) == (32, 8)
    assert tuple(m.weight_hr_l1_reverse.shape) == (4, 8)
    bound = 1 / math.sqrt(8)
    for p in m.parameters():
        assert float(p.abs().max()) <= bound
    assert m._flat_weights_names == expect
    assert [len(w) for w in m.all_weights] == [5] * 4
    g = nn.GRU(3, 5, bias=False)
    assert [n for n, _ in g.named_parameters()] == ['weight_ih_l0', 'weight_hh_l0']
    assert tuple(g.weight_ih_l0.shape) == (15, 3)
    c = nn.LSTMCell(3, 5)
    assert [n for n, _ in c.named_parameters()] == ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']
    assert tuple(c.weight_hh.shape) == (20, 5)


@needs_torch
def test_state_dict_keys_and_repr_match_torch():
    for cls, kw in (('RNN', dict(num_layers=2, nonlinearity='relu', bias=False, batch_first=True, dropout=0.1,
                                 bidirectional=True)),
                    ('LSTM', dict(proj_size=2)), ('GRU', dict(num_layers=3)), ('LSTMCell', {}),
                    ('GRUCell', dict(bias=False)), ('RNNCell', dict(nonlinearity='relu'))):
        em = getattr(nn, cls)(3, 4, **kw)
        tm = getattr(torch.nn, cls)(3, 4, **kw)
        assert list(em.state_dict().keys()) == list(tm.state_dict().keys())
        assert repr(em) == repr(tm)
        for (n, p), (n2, q) in zip(em.named_parameters(), tm.named_parameters()):
            assert n == n2 and tuple(p.shape) == tuple(q.shape)


# ---- PyTorch parity: RNN / LSTM / GRU ---------------------------------------------------------------------------

CONFIGS = [('RNN', {}), ('RNN', {'nonlinearity': 'relu'}), ('LSTM', {}), ('LSTM', {'proj_size': 3}), ('GRU', {})]


@needs_torch
@pytest.mark.parametrize('cls,extra', CONFIGS)
@pytest.mark.parametrize('num_layers,bidirectional,batch_first,bias', [
    (1, False, False, True), (2, True, False, True), (2, False, True, False), (3, True, True, True)])
def test_rnn_modules_match_torch(cls, extra, num_layers, bidirectional, batch_first, bias):
    em, tm = _pair(cls, 4, 5, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional, **extra)
    T, B = 6, 3
    x = rnd(B, T, 4) if batch_first else rnd(T, B, 4)
    D = 2 if bidirectional else 1
    P = extra.get('proj_size', 0) or 5
    h0 = rnd(num_layers * D, B, P)
    c0 = rnd(num_layers * D, B, 5)
    xe, xt = _e64(x), _t64(x)
    if cls == 'LSTM':
        he, ht = (_e64(h0), _e64(c0)), (_t64(h0), _t64(c0))
        ye, hne = em(xe, he)
        yt, hnt = tm(xt, ht)
    else:
        he, ht = (_e64(h0),), (_t64(h0),)
        ye, hne = em(xe, he[0])
        yt, hnt = tm(xt, ht[0])
    _close(ye, yt)
    for a, b in zip(_as_tuple(hne), _as_tuple(hnt)):
        _close(a, b)
    w = rnd(*ye.shape)
    ws = [rnd(*h.shape) for h in _as_tuple(hne)]
    ((ye * ember.tensor(w)).sum() + sum((a * ember.tensor(v)).sum() for a, v in zip(_as_tuple(hne), ws))).backward()
    ((yt * torch.tensor(w)).sum() + sum((a * torch.tensor(v)).sum() for a, v in zip(_as_tuple(hnt), ws))).backward()
    _close(xe.grad, xt.grad)
    for a, b in zip(he, ht):
        _close(a.grad, b.grad)
    _check_param_grads(em, tm)


@needs_torch
@pytest.mark.parametrize('cls', ['RNN', 'LSTM', 'GRU'])
def test_default_hidden_and_unbatched_match_torch(cls):
    em, tm = _pair(cls, 4, 5, 2, bidirectional=True)
    x = rnd(6, 3, 4)
    ye, he = em(_e64(x))
    yt, ht = tm(_t64(x))
    _close(ye, yt)
    for a, b in zip(_as_tuple(he), _as_tuple(ht)):
        _close(a, b)
    # unbatched (L, H_in) input with 2-D states
    x = rnd(6, 4)
    h = rnd(4, 5)
    hx_e = (_e64(h), _e64(h)) if cls == 'LSTM' else _e64(h)
    hx_t = (_t64(h), _t64(h)) if cls == 'LSTM' else _t64(h)
    ye, he = em(_e64(x), hx_e)
    yt, ht = tm(_t64(x), hx_t)
    assert tuple(ye.shape) == (6, 10)
    _close(ye, yt)
    for a, b in zip(_as_tuple(he), _as_tuple(ht)):
        _close(a, b)


@needs_torch
@pytest.mark.parametrize('cls', ['RNN', 'LSTM', 'GRU'])
@pytest.mark.parametrize('enforce_sorted', [True, False])
def test_packed_input_matches_torch(cls, enforce_sorted):
    em, tm = _pair(cls, 4, 5, 2, bidirectional=True)
    lengths = [6, 4, 4, 1] if enforce_sorted else [3, 6, 1, 4]
    x = rnd(6, 4, 4)
    xe, xt = _e64(x), _t64(x)
    pe = R.pack_padded_sequence(xe, lengths, enforce_sorted=enforce_sorted)
    pt = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths, enforce_sorted=enforce_sorted)
    h0 = rnd(4, 4, 5)
    he, ht = _e64(h0), _t64(h0)
    if cls == 'LSTM':
        he, ht = (he, _e64(h0 * 0.5)), (ht, _t64(h0 * 0.5))
    oe, hne = em(pe, he)
    ot, hnt = tm(pt, ht)
    assert isinstance(oe, R.PackedSequence)
    assert oe.batch_sizes.tolist() == ot.batch_sizes.tolist()
    _close(oe.data, ot.data)
    for a, b in zip(_as_tuple(hne), _as_tuple(hnt)):
        _close(a, b)
    ye, le = R.pad_packed_sequence(oe, batch_first=True)
    yt, lt = torch.nn.utils.rnn.pad_packed_sequence(ot, batch_first=True)
    assert le.tolist() == lt.tolist() == lengths
    _close(ye, yt)
    w = rnd(*ye.shape)
    ((ye * ember.tensor(w)).sum() + _as_tuple(hne)[0].sum()).backward()
    ((yt * torch.tensor(w)).sum() + _as_tuple(hnt)[0].sum()).backward()
    _close(xe.grad, xt.grad)
    _close(_as_tuple(he)[0].grad, _as_tuple(ht)[0].grad)
    _check_param_grads(em, tm)


@needs_torch
@pytest.mark.parametrize('cls', ['RNNCell', 'LSTMCell', 'GRUCell'])
@pytest.mark.parametrize('bias', [True, False])
@pytest.mark.parametrize('unbatched', [False, True])
def test_cells_match_torch(cls, bias, unbatched):
    em, tm = _pair(cls, 4, 5, bias=bias)
    x = rnd(4) if unbatched else rnd(3, 4)
    h = rnd(5) if unbatched else rnd(3, 5)
    xe, xt, he, ht = _e64(x), _t64(x), _e64(h), _t64(h)
    if cls == 'LSTMCell':
        oe, ot = em(xe, (he, he * 2)), tm(xt, (ht, ht * 2))
        se, st = oe[0].sum() + (oe[1] ** 2).sum(), ot[0].sum() + (ot[1] ** 2).sum()
        for a, b in zip(oe, ot):
            _close(a, b)
    else:
        oe, ot = em(xe, he), tm(xt, ht)
        _close(oe, ot)
        se, st = (oe ** 2).sum(), (ot ** 2).sum()
    se.backward()
    st.backward()
    _close(xe.grad, xt.grad)
    _close(he.grad, ht.grad)
    _check_param_grads(em, tm)
    for a, b in zip(_as_tuple(em(_e64(x))), _as_tuple(tm(_t64(x)))):
        _close(a, b)


@needs_torch
def test_float32_lstm_matches_torch():
    tm = torch.nn.LSTM(8, 16, 2)
    em = nn.LSTM(8, 16, 2)
    _copy_from_torch(em, tm)
    x = rnd(20, 4, 8).astype(np.float32)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, _ = em(xe)
    yt, _ = tm(xt)
    _close(ye, yt, 1e-5)
    ye.sum().backward()
    yt.sum().backward()
    _close(xe.grad, xt.grad, 1e-5)
    _check_param_grads(em, tm, 1e-4)


def test_dropout_between_layers_only_in_training():
    m = nn.LSTM(3, 4, 3, dropout=0.5)
    x = ember.randn(5, 2, 3)
    a, b = m(x)[0], m(x)[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    m.eval()
    a, b = m(x)[0], m(x)[0]
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    one = nn.GRU(3, 4, 1)
    np.testing.assert_array_equal(one(x)[0].detach().numpy(), one(x)[0].detach().numpy())


def test_batch_first_transposes():
    m = nn.GRU(3, 4, batch_first=True)
    x = ember.randn(2, 5, 3)
    y, h = m(x)
    assert tuple(y.shape) == (2, 5, 4) and tuple(h.shape) == (1, 2, 4)
    m.batch_first = False
    y2, _ = m(x.transpose(0, 1))
    np.testing.assert_allclose(y2.transpose(0, 1).detach().numpy(), y.detach().numpy(), atol=1e-6)


# ---- errors -------------------------------------------------------------------------------------------------------

def test_module_errors():
    with pytest.raises(RuntimeError, match=r'LSTM: input.size\(-1\) must be equal to input_size. Expected 3, got 4'):
        nn.LSTM(3, 4, 2)(ember.randn(5, 2, 4))
    with pytest.raises(ValueError, match='input dtype'):
        nn.LSTM(3, 4)(ember.randn(5, 2, 3).double())
    with pytest.raises(RuntimeError, match=r'Expected hidden\[0\] size \(2, 2, 4\), got \[1, 2, 4\]'):
        nn.LSTM(3, 4, 2)(ember.randn(5, 2, 3), (ember.randn(1, 2, 4), ember.randn(2, 2, 4)))
    with pytest.raises(RuntimeError, match=r'Expected hidden\[1\] size'):
        nn.LSTM(3, 4, 2)(ember.randn(5, 2, 3), (ember.randn(2, 2, 4), ember.randn(2, 3, 4)))
    with pytest.raises(RuntimeError, match=r'GRU: Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]'):
        nn.GRU(3, 4)(ember.randn(5, 2, 3), ember.randn(1, 3, 4))
    with pytest.raises(RuntimeError, match='For unbatched 2-D input'):
        nn.LSTM(3, 4)(ember.randn(5, 3), (ember.randn(1, 1, 4), ember.randn(1, 1, 4)))
    with pytest.raises(ValueError, match='Expected input to be 2D or 3D, got 4D'):
        nn.RNN(3, 4)(ember.randn(2, 5, 2, 3))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'x'"):
        nn.RNN(3, 4, nonlinearity='x')
    with pytest.raises(ValueError, match='proj_size argument is only supported for LSTM'):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match='proj_size has to be smaller than hidden_size'):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match='dropout should be a number in range'):
        nn.LSTM(3, 4, 2, dropout=1.5)
    with pytest.raises(ValueError, match='hidden_size must be greater than zero'):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match='num_layers must be greater than zero'):
        nn.LSTM(3, 4, 0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        nn.LSTM(3, 4, dropout=0.5)
    assert any('non-zero dropout expects num_layers greater than 1' in str(x.message) for x in w)


def test_cell_errors():
    with pytest.raises(RuntimeError, match='RNNCell: input has inconsistent input_size: got 5 expected 3'):
        nn.RNNCell(3, 4)(ember.randn(2, 5))
    with pytest.raises(RuntimeError, match="LSTMCell: Input batch size 2 doesn't match hidden0 batch size 3"):
        nn.LSTMCell(3, 4)(ember.randn(2, 3), (ember.randn(3, 4), ember.randn(2, 4)))
    with pytest.raises(ValueError, match='GRUCell: Expected input to be 1D or 2D, got 3D instead'):
        nn.GRUCell(3, 4)(ember.randn(2, 2, 3))
    with pytest.raises(RuntimeError, match='hidden0 has inconsistent hidden_size'):
        nn.GRUCell(3, 4)(ember.randn(2, 3), ember.randn(2, 5))


# ---- nn.utils.rnn ----------------------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize('lengths,enforce_sorted', [([5, 3, 3, 1], True), ([2, 5, 1, 3], False)])
@pytest.mark.parametrize('batch_first', [False, True])
def test_pack_pad_roundtrip_matches_torch(lengths, enforce_sorted, batch_first):
    x = rnd(4, 5, 3) if batch_first else rnd(5, 4, 3)
    xe, xt = _e64(x), _t64(x)
    pe = R.pack_padded_sequence(xe, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    pt = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths, batch_first=batch_first,
                                                 enforce_sorted=enforce_sorted)
    _close(pe.data, pt.data)
    assert pe.batch_sizes.tolist() == pt.batch_sizes.tolist()
    assert pe.batch_sizes.dtype == ember.int64
    if enforce_sorted:
        assert pe.sorted_indices is None and pe.unsorted_indices is None
    else:
        assert pe.sorted_indices.tolist() == pt.sorted_indices.tolist()
        assert pe.unsorted_indices.tolist() == pt.unsorted_indices.tolist()
    oe, le = R.pad_packed_sequence(pe, batch_first=batch_first, padding_value=-1.0, total_length=7)
    ot, lt = torch.nn.utils.rnn.pad_packed_sequence(pt, batch_first=batch_first, padding_value=-1.0,
                                                    total_length=7)
    _close(oe, ot)
    assert le.tolist() == lt.tolist()
    w = rnd(*oe.shape)
    (oe * ember.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    _close(xe.grad, xt.grad)


@needs_torch
@pytest.mark.parametrize('side', ['right', 'left'])
@pytest.mark.parametrize('batch_first', [False, True])
def test_pad_sequence_matches_torch(side, batch_first):
    seqs = [rnd(n, 2) for n in (3, 5, 2)]
    es = [_e64(s) for s in seqs]
    ts = [_t64(s) for s in seqs]
    a = R.pad_sequence(es, batch_first=batch_first, padding_value=9.0, padding_side=side)
    b = torch.nn.utils.rnn.pad_sequence(ts, batch_first=batch_first, padding_value=9.0, padding_side=side)
    _close(a, b)
    a.sum().backward()
    b.sum().backward()
    for x, y in zip(es, ts):
        _close(x.grad, y.grad)


@needs_torch
def test_pack_sequence_and_unpack_match_torch():
    seqs = [rnd(n, 2) for n in (3, 5, 2)]
    pe = R.pack_sequence([_e64(s) for s in seqs], enforce_sorted=False)
    pt = torch.nn.utils.rnn.pack_sequence([_t64(s) for s in seqs], enforce_sorted=False)
    _close(pe.data, pt.data)
    assert pe.batch_sizes.tolist() == pt.batch_sizes.tolist()
    for a, s in zip(R.unpack_sequence(pe), seqs):
        _close(a, s)
    padded, lengths = R.pad_packed_sequence(pe)
    for a, s in zip(R.unpad_sequence(padded, lengths), seqs):
        _close(a, s)


def test_packed_sequence_is_named_tuple():
    p = R.pack_sequence([ember.randn(3, 2), ember.randn(2, 2)])
    assert isinstance(p, tuple) and p._fields == ('data', 'batch_sizes', 'sorted_indices', 'unsorted_indices')
    data, batch_sizes, si, ui = p
    assert batch_sizes.tolist() == [2, 2, 1] and si is None and ui is None
    q = p.double()
    assert isinstance(q, R.PackedSequence) and q.data.dtype == ember.float64 and not q.is_cuda
    s = R.PackedSequence(p.data, p.batch_sizes, ember.tensor([1, 0]))
    assert s.unsorted_indices.tolist() == [1, 0]
    assert R.invert_permutation(ember.tensor([2, 0, 1])).tolist() == [1, 2, 0]


def test_packing_errors():
    x = ember.randn(4, 3, 2)
    with pytest.raises(RuntimeError, match='must be sorted in decreasing order'):
        R.pack_padded_sequence(x, [1, 3, 2])
    with pytest.raises(RuntimeError, match='Length of all samples has to be greater than 0'):
        R.pack_padded_sequence(x, [3, 0, 2], enforce_sorted=False)
    with pytest.raises(RuntimeError, match=r'Expected `len\(lengths\)` to be equal to batch_size'):
        R.pack_padded_sequence(x, [3, 2])
    with pytest.raises(RuntimeError, match="'lengths' argument should be a 1D CPU int64 tensor"):
        R.pack_padded_sequence(x, ember.tensor([[3, 2, 1]]))
    with pytest.raises(RuntimeError, match='exceeds the padded sequence length'):
        R.pack_padded_sequence(x, [5, 3, 2])
    with pytest.raises(ValueError, match='Expected total_length to be at least'):
        R.pad_packed_sequence(R.pack_padded_sequence(x, [3, 2, 1]), total_length=2)
    with pytest.raises(RuntimeError, match='Expected padding_side to be one of left or right'):
        R.pad_sequence([x[0], x[1]], padding_side='mid')


def test_module_copy_is_independent():
    m = nn.LSTM(3, 4)
    m2 = copy.deepcopy(m)
    with ember.no_grad():
        m2.weight_hh_l0.add_(1)
    assert not np.allclose(m.weight_hh_l0.detach().numpy(), m2.weight_hh_l0.detach().numpy())
    x = ember.randn(2, 1, 3)
    assert tuple(m2(x)[0].shape) == (2, 1, 4)
