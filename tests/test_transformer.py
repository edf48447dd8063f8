"""scaled_dot_product_attention, MultiheadAttention and the Transformer layers: gradcheck and PyTorch parity."""
import copy
import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from conftest import torch, needs_torch
from _parity import Rnd, e64 as _e64, torch64 as _t64, close, copy_from_torch as _copy_from_torch, check_param_grads

rnd = Rnd(4321)


def _close(a, b, atol=1e-6):
    close(a, b, atol, equal_nan=True)


def _check_param_grads(em, tm):
    check_param_grads(em, tm, equal_nan=True)


def _mask_pair(a):
    return ember.tensor(a), torch.tensor(a)


# ---- scaled_dot_product_attention ---------------------------------------------------------------------------

def test_sdpa_gradcheck():
    q, k, v = _e64(rnd(2, 3, 4)), _e64(rnd(2, 5, 4)), _e64(rnd(2, 5, 3))
    m = _e64(rnd(3, 5))
    assert gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), (q, k, v, m))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3), (q, k, v))
    keep = ember.tensor(rnd.rng.random((3, 5)) > 0.3)
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=keep), (q, k, v))


def test_sdpa_gradgradcheck():
    q, k, v = _e64(rnd(1, 2, 3)), _e64(rnd(1, 3, 3)), _e64(rnd(1, 3, 2))
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), (q, k, v))


@needs_torch
@pytest.mark.parametrize('mask', [None, 'causal', 'bool', 'float', 'dead_row', 'broadcast'])
def test_sdpa_matches_torch(mask):
    qn, kn, vn = rnd(2, 3, 4, 5), rnd(2, 3, 6, 5), rnd(2, 3, 6, 7)
    qe, ke, ve = _e64(qn), _e64(kn), _e64(vn)
    qt, kt, vt = _t64(qn), _t64(kn), _t64(vn)
    kw_e, kw_t = {}, {}
    if mask == 'causal':
        kw_e = kw_t = {'is_causal': True}
    elif mask in ('bool', 'dead_row'):
        m = rnd.rng.random((4, 6)) > 0.3
        m[:, 0] = True
        if mask == 'dead_row':
            m[1] = False            # a query with nothing to attend to: zeros, as PyTorch
        kw_e['attn_mask'], kw_t['attn_mask'] = _mask_pair(m)
    elif mask == 'float':
        m = rnd(3, 4, 6)
        kw_e['attn_mask'], kw_t['attn_mask'] = _e64(m), _t64(m)
    elif mask == 'broadcast':
        m = rnd.rng.random((2, 1, 1, 6)) > 0.2
        m[..., 0] = True
        kw_e['attn_mask'], kw_t['attn_mask'] = _mask_pair(m)
    oe = F.scaled_dot_product_attention(qe, ke, ve, **kw_e)
    ot = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, **kw_t)
    _close(oe, ot)
    w = rnd(*oe.shape)
    (oe * ember.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    for a, b in ((qe, qt), (ke, kt), (ve, vt)):
        _close(a.grad, b.grad)
    if mask == 'float':
        _close(kw_e['attn_mask'].grad, kw_t['attn_mask'].grad)


# the fused one-node SDPA (forward and backward in array code) is pinned to the composite of recorded ops that
# defines it (attention._attention_composite, also its double-backward path)
@pytest.mark.parametrize('mask', [None, 'float', 'bool_dead_row', 'causal', 'broadcast_batch'])
@pytest.mark.parametrize('dropout', [0.0, 0.4])
def test_sdpa_fused_matches_composite(mask, dropout):
    from ember.nn._functional import attention as A
    from ember.nn._functional.dropout import _scaled_mask
    from ember.backends.random import generator_for
    qn, kn, vn = rnd(2, 3, 4, 5), rnd(2, 3, 6, 5), rnd(2, 3, 6, 7)
    if mask == 'broadcast_batch':
        kn, vn = kn[0], vn[0]       # key/value batch dims broadcast against the query's
    q, k, v = _e64(qn), _e64(kn), _e64(vn)
    m = None
    if mask == 'float':
        m = _e64(rnd(3, 4, 6))
    elif mask == 'bool_dead_row':
        b = rnd.rng.random((4, 6)) > 0.3
        b[1] = False                # a query with nothing to attend to gives zeros
        m = A._float_mask(ember.tensor(b), q.dtype)
    elif mask == 'causal':
        m = A._float_mask(ember.tensor(np.tril(np.ones((4, 6), bool))), q.dtype)
    ember.manual_seed(7)
    got = A._sdpa_fused(q, k, v, m, 0.37, dropout)
    keep = None
    if dropout:
        ember.manual_seed(7)        # the fused op's draw, replayed: bernoulli(1 - p) over the weights
        keep = _scaled_mask(np, generator_for(q._device).bernoulli(1.0 - dropout, tuple(got.shape[:-1]) + (6,)),
                            dropout, np.dtype('float64'))
    (ref,) = A._attention_composite(q, k, v, m, 0.37, keep)
    assert got.grad_fn.name() == 'ScaledDotProductAttentionBackward0'
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_allclose(got.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-13)
    g = ember.tensor(rnd(*got.shape))
    ins = [t for t in (q, k, v, m) if t is not None and t.requires_grad]
    for a, r in zip(ember.autograd.grad(got, ins, g), ember.autograd.grad(ref, ins, g)):
        assert a.shape == r.shape
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
def test_sdpa_scale_and_gqa_match_torch():
    qn, kn, vn = rnd(2, 4, 3, 5), rnd(2, 2, 6, 5), rnd(2, 2, 6, 5)
    oe = F.scaled_dot_product_attention(_e64(qn), _e64(kn), _e64(vn), scale=0.7, enable_gqa=True)
    ot = torch.nn.functional.scaled_dot_product_attention(_t64(qn), _t64(kn), _t64(vn), scale=0.7, enable_gqa=True)
    _close(oe, ot)


def test_sdpa_dropout():
    q = ember.randn(4, 8, 16)
    k = ember.randn(4, 8, 16)
    v = ember.ones(4, 8, 16)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    # rows of weights sum to 1 before dropout; with v = 1 each output is the kept, rescaled weight mass
    mean = float(out.mean())
    assert 0.8 < mean < 1.2
    assert not np.allclose(out.numpy(), 1.0)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v).numpy(), 1.0, rtol=1e-5)


def test_sdpa_errors():
    q = ember.randn(2, 3, 4)
    with pytest.raises(RuntimeError, match='Expected query, key, and value to have the same dtype'):
        F.scaled_dot_product_attention(q, ember.randn(2, 5, 4).double(), ember.randn(2, 5, 4))
    with pytest.raises(RuntimeError, match='query has embedding size 4 but key has 3'):
        F.scaled_dot_product_attention(q, ember.randn(2, 5, 3), ember.randn(2, 5, 4))
    with pytest.raises(RuntimeError, match='key has sequence length 5 but value has 6'):
        F.scaled_dot_product_attention(q, ember.randn(2, 5, 4), ember.randn(2, 6, 4))
    with pytest.raises(RuntimeError, match='does not broadcast to the attention scores'):
        F.scaled_dot_product_attention(q, ember.randn(2, 5, 4), ember.randn(2, 5, 4),
                                       attn_mask=ember.ones(3, 4, dtype=ember.bool))
    with pytest.raises(RuntimeError, match='Expected attn_mask dtype to be bool or float'):
        F.scaled_dot_product_attention(q, ember.randn(2, 5, 4), ember.randn(2, 5, 4),
                                       attn_mask=ember.ones(3, 5, dtype=ember.int64))
    with pytest.raises(RuntimeError, match='at least 2 dimensional'):
        F.scaled_dot_product_attention(ember.randn(4), ember.randn(4), ember.randn(4))
    with pytest.raises(RuntimeError, match='Explicit attn_mask should not be set when is_causal=True'):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(3, 3, dtype=ember.bool), is_causal=True)


# ---- MultiheadAttention -------------------------------------------------------------------------------------------

E, NH, L, S, N = 8, 2, 4, 5, 3


def _mha_masks(kind, src_len):
    am = kp = (None, None)
    causal = False
    if kind in ('bool2', 'both'):
        m = rnd.rng.random((L, src_len)) > 0.7
        m[:, 0] = False
        am = _mask_pair(m)
    elif kind == 'float2':
        m = rnd(L, src_len)
        am = _mask_pair(m)
    elif kind == 'bool3':
        m = rnd.rng.random((N * NH, L, src_len)) > 0.7
        m[..., 0] = False
        am = _mask_pair(m)
    if kind in ('kpm_bool', 'both'):
        m = rnd.rng.random((N, src_len)) > 0.6
        m[:, 0] = False
        kp = _mask_pair(m)
    elif kind == 'kpm_float':
        kp = _mask_pair(rnd(N, src_len))
    elif kind == 'causal':
        m = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
        am = (ember.tensor(m.numpy()), m)
        causal = True
    return am, kp, causal


@needs_torch
@pytest.mark.parametrize('kv', ['self', 'cross', 'kdim'])
@pytest.mark.parametrize('mask', [None, 'bool2', 'float2', 'bool3', 'kpm_bool', 'kpm_float', 'both', 'causal'])
@pytest.mark.parametrize('batch_first', [False, True])
def test_mha_matches_torch(kv, mask, batch_first):
    if mask == 'causal' and kv != 'self':
        pytest.skip('a causal mask needs L == S')
    kw = {'kdim': 6, 'vdim': 7} if kv == 'kdim' else {}
    tm = torch.nn.MultiheadAttention(E, NH, batch_first=batch_first, **kw).double()
    em = nn.MultiheadAttention(E, NH, batch_first=batch_first, dtype=ember.float64, **kw)
    _copy_from_torch(em, tm)

    def shape(length, dim):
        return (N, length, dim) if batch_first else (length, N, dim)
    qn = rnd(*shape(L, E))
    qe, qt = _e64(qn), _t64(qn)
    if kv == 'self':
        ke = ve = qe
        kt = vt = qt
        src = L
    elif kv == 'cross':
        kn = rnd(*shape(S, E))
        ke = ve = _e64(kn)
        kt = vt = _t64(kn)
        src = S
    else:
        kn, vn = rnd(*shape(S, 6)), rnd(*shape(S, 7))
        ke, ve, kt, vt = _e64(kn), _e64(vn), _t64(kn), _t64(vn)
        src = S
    (ame, amt), (kpe, kpt), causal = _mha_masks(mask, src)
    for need in (True, False):
        for avg in ((True, False) if need else (True,)):
            for t in (qe, ke, ve, qt, kt, vt):
                t.grad = None
            em.zero_grad()
            tm.zero_grad()
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                oe, we = em(qe, ke, ve, key_padding_mask=kpe, need_weights=need, attn_mask=ame,
                            average_attn_weights=avg, is_causal=causal)
                ot, wt = tm(qt, kt, vt, key_padding_mask=kpt, need_weights=need, attn_mask=amt,
                            average_attn_weights=avg, is_causal=causal)
            _close(oe, ot)
            if need:
                _close(we, wt)
            else:
                assert we is None and wt is None
            w = rnd(*oe.shape)
            (oe * ember.tensor(w)).sum().backward()
            (ot * torch.tensor(w)).sum().backward()
            for a, b in ((qe, qt), (ke, kt), (ve, vt)):
                _close(a.grad, b.grad)
            _check_param_grads(em, tm)


@needs_torch
@pytest.mark.parametrize('extra', [{'add_bias_kv': True}, {'add_zero_attn': True}, {'bias': False},
                                   {'add_bias_kv': True, 'add_zero_attn': True, 'kdim': 3, 'vdim': 5}])
def test_mha_options_match_torch(extra):
    tm = torch.nn.MultiheadAttention(E, NH, **extra).double()
    em = nn.MultiheadAttention(E, NH, dtype=ember.float64, **extra)
    _copy_from_torch(em, tm)
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    qn, kn, vn = rnd(L, N, E), rnd(S, N, extra.get('kdim', E)), rnd(S, N, extra.get('vdim', E))
    kp = rnd.rng.random((N, S)) > 0.6
    kp[:, 0] = False
    qe, qt = _e64(qn), _t64(qn)
    oe, we = em(qe, _e64(kn), _e64(vn), key_padding_mask=ember.tensor(kp))
    ot, wt = tm(qt, _t64(kn), _t64(vn), key_padding_mask=torch.tensor(kp))
    _close(oe, ot)
    _close(we, wt)
    oe.sum().backward()
    ot.sum().backward()
    _close(qe.grad, qt.grad)
    _check_param_grads(em, tm)


@needs_torch
def test_mha_unbatched_and_repr_match_torch():
    tm = torch.nn.MultiheadAttention(E, NH).double()
    em = nn.MultiheadAttention(E, NH, dtype=ember.float64)
    _copy_from_torch(em, tm)
    x = rnd(L, E)
    m = rnd.rng.random((L, L)) > 0.6
    m[:, 0] = False
    for need in (True, False):
        oe, we = em(_e64(x), _e64(x), _e64(x), attn_mask=ember.tensor(m), need_weights=need)
        ot, wt = tm(_t64(x), _t64(x), _t64(x), attn_mask=torch.tensor(m), need_weights=need)
        _close(oe, ot)
        if need:
            _close(we, wt)
    assert repr(em) == repr(tm)


def test_mha_init_and_errors():
    m = nn.MultiheadAttention(8, 2)
    assert tuple(m.in_proj_weight.shape) == (24, 8) and tuple(m.in_proj_bias.shape) == (24,)
    assert m.q_proj_weight is None and float(m.in_proj_bias.abs().sum()) == 0.0
    assert float(m.out_proj.bias.abs().sum()) == 0.0
    assert type(m.out_proj).__name__ == 'NonDynamicallyQuantizableLinear' and isinstance(m.out_proj, nn.Linear)
    bound = (6 / (24 + 8)) ** 0.5
    assert float(m.in_proj_weight.abs().max()) <= bound
    s = nn.MultiheadAttention(8, 2, kdim=3, vdim=5)
    assert s.in_proj_weight is None and tuple(s.k_proj_weight.shape) == (8, 3)
    with pytest.raises(AssertionError, match='embed_dim must be divisible by num_heads'):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match='embed_dim and num_heads must be greater than 0'):
        nn.MultiheadAttention(0, 2)
    x = ember.randn(4, 2, 8)
    with pytest.raises(AssertionError, match='was expecting embedding dimension of 8, but got 6'):
        m(ember.randn(4, 2, 6), x, x)
    with pytest.raises(RuntimeError, match=r'The shape of the 2D attn_mask is \(3, 4\), but should be \(4, 4\)'):
        m(x, x, x, attn_mask=ember.zeros(3, 4))
    with pytest.raises(RuntimeError, match='The shape of the 3D attn_mask'):
        m(x, x, x, attn_mask=ember.zeros(3, 4, 4))
    with pytest.raises(AssertionError, match='expecting key_padding_mask shape of'):
        m(x, x, x, key_padding_mask=ember.zeros(2, 3, dtype=ember.bool))
    with pytest.raises(RuntimeError, match='Need attn_mask if specifying the is_causal hint'):
        m(x, x, x, is_causal=True)


def test_mha_dropout_only_in_training():
    m = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = ember.randn(4, 2, 8)
    a, b = m(x, x, x)[0], m(x, x, x)[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    m.eval()
    np.testing.assert_array_equal(m(x, x, x)[0].detach().numpy(), m(x, x, x)[0].detach().numpy())


# ---- Transformer layers ---------------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize('batch_first', [False, True])
@pytest.mark.parametrize('norm_first', [False, True])
@pytest.mark.parametrize('activation', ['relu', 'gelu'])
@pytest.mark.parametrize('mask', [None, 'causal', 'kpm', 'both'])
def test_encoder_matches_torch(batch_first, norm_first, activation, mask):
    tl = torch.nn.TransformerEncoderLayer(E, NH, 16, 0.0, activation, batch_first=batch_first,
                                          norm_first=norm_first).double()
    tm = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(E).double(), enable_nested_tensor=False)
    el = nn.TransformerEncoderLayer(E, NH, 16, 0.0, activation, batch_first=batch_first, norm_first=norm_first,
                                    dtype=ember.float64)
    em = nn.TransformerEncoder(el, 2, norm=nn.LayerNorm(E, dtype=ember.float64), enable_nested_tensor=False)
    _copy_from_torch(em, tm)
    x = rnd(N, S, E) if batch_first else rnd(S, N, E)
    xe, xt = _e64(x), _t64(x)
    ame = amt = kpe = kpt = None
    if mask in ('causal', 'both'):
        amt = torch.nn.Transformer.generate_square_subsequent_mask(S, dtype=torch.float64)
        ame = nn.Transformer.generate_square_subsequent_mask(S, dtype=ember.float64)
    if mask in ('kpm', 'both'):
        m = rnd.rng.random((N, S)) > 0.6
        m[:, 0] = False
        kpe, kpt = _mask_pair(m)
    ye = em(xe, mask=ame, src_key_padding_mask=kpe)
    yt = tm(xt, mask=amt, src_key_padding_mask=kpt)
    _close(ye, yt)
    w = rnd(*ye.shape)
    (ye * ember.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    _close(xe.grad, xt.grad)
    _check_param_grads(em, tm)


@needs_torch
def test_encoder_layer_callable_activation_and_is_causal():
    tl = torch.nn.TransformerEncoderLayer(E, NH, 16, 0.0, torch.nn.functional.silu).double()
    el = nn.TransformerEncoderLayer(E, NH, 16, 0.0, F.silu, dtype=ember.float64)
    _copy_from_torch(el, tl)
    assert el.activation_relu_or_gelu == 0
    x = rnd(S, N, E)
    causal_t = torch.nn.Transformer.generate_square_subsequent_mask(S, dtype=torch.float64)
    causal_e = nn.Transformer.generate_square_subsequent_mask(S, dtype=ember.float64)
    _close(el(_e64(x), src_mask=causal_e, is_causal=True), tl(_t64(x), src_mask=causal_t, is_causal=True))
    _close(el(_e64(x)), tl(_t64(x)))


@needs_torch
@pytest.mark.parametrize('batch_first', [False, True])
@pytest.mark.parametrize('norm_first', [False, True])
def test_transformer_matches_torch(batch_first, norm_first):
    tm = torch.nn.Transformer(E, NH, 2, 2, 16, 0.0, batch_first=batch_first, norm_first=norm_first).double()
    em = nn.Transformer(E, NH, 2, 2, 16, 0.0, batch_first=batch_first, norm_first=norm_first, dtype=ember.float64)
    _copy_from_torch(em, tm)
    T = 4
    src = rnd(N, S, E) if batch_first else rnd(S, N, E)
    tgt = rnd(N, T, E) if batch_first else rnd(T, N, E)
    se, te, st, tt = _e64(src), _e64(tgt), _t64(src), _t64(tgt)
    tmask_t = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    tmask_e = nn.Transformer.generate_square_subsequent_mask(T, dtype=ember.float64)
    kp = rnd.rng.random((N, S)) > 0.6
    kp[:, 0] = False
    ye = em(se, te, tgt_mask=tmask_e, src_key_padding_mask=ember.tensor(kp),
            memory_key_padding_mask=ember.tensor(kp))
    yt = tm(st, tt, tgt_mask=tmask_t, src_key_padding_mask=torch.tensor(kp),
            memory_key_padding_mask=torch.tensor(kp))
    _close(ye, yt)
    ye.sum().backward()
    yt.sum().backward()
    _close(se.grad, st.grad)
    _close(te.grad, tt.grad)
    _check_param_grads(em, tm)


@needs_torch
def test_decoder_layer_matches_torch():
    tl = torch.nn.TransformerDecoderLayer(E, NH, 16, 0.0, 'gelu', norm_first=True).double()
    el = nn.TransformerDecoderLayer(E, NH, 16, 0.0, 'gelu', norm_first=True, dtype=ember.float64)
    _copy_from_torch(el, tl)
    tgt, mem = rnd(4, N, E), rnd(S, N, E)
    mm = rnd.rng.random((4, S)) > 0.7
    mm[:, 0] = False
    _close(el(_e64(tgt), _e64(mem), memory_mask=ember.tensor(mm)),
           tl(_t64(tgt), _t64(mem), memory_mask=torch.tensor(mm)))


@needs_torch
def test_encoder_inference_zeroes_padded_positions_like_torch():
    tl = torch.nn.TransformerEncoderLayer(E, NH, 16, batch_first=True).double()
    tm = torch.nn.TransformerEncoder(tl, 2).eval()
    el = nn.TransformerEncoderLayer(E, NH, 16, batch_first=True, dtype=ember.float64)
    em = nn.TransformerEncoder(el, 2).eval()
    _copy_from_torch(em, tm)
    x = rnd(N, S, E)
    kp = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]], bool)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with torch.no_grad():
            yt = tm(torch.tensor(x), src_key_padding_mask=torch.tensor(kp))
    with ember.no_grad():
        ye = em(ember.tensor(x), src_key_padding_mask=ember.tensor(kp))
    _close(ye, yt)
    assert float(ye[2, 1:].abs().sum()) == 0.0


def test_square_subsequent_mask():
    m = nn.Transformer.generate_square_subsequent_mask(3)
    assert m.dtype == ember.float32
    expect = np.array([[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]], np.float32)
    np.testing.assert_array_equal(m.numpy(), expect)


def test_encoder_deep_copies_layers():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 3)
    assert len(enc.layers) == 3
    assert enc.layers[0] is not layer and enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.detach().numpy(),
                                  enc.layers[2].linear1.weight.detach().numpy())
    names = [n for n, _ in enc.named_parameters()]
    assert names[0] == 'layers.0.self_attn.in_proj_weight' and 'layers.2.norm2.bias' in names
    dup = copy.deepcopy(enc)
    assert dup.layers[1].self_attn.in_proj_weight is not enc.layers[1].self_attn.in_proj_weight


def test_transformer_errors():
    t = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match='the batch number of src and tgt must be equal'):
        t(ember.randn(5, 2, 8), ember.randn(4, 3, 8))
    with pytest.raises(RuntimeError, match='the feature number of src and tgt must be equal to d_model'):
        t(ember.randn(5, 2, 8), ember.randn(4, 2, 6))
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(RuntimeError, match=r'TransformerEncoderLayer: expected src of shape .* \(d_model=8\)'):
        layer(ember.randn(5, 2, 6))
    with pytest.raises(RuntimeError, match='activation should be relu/gelu, not tanh'):
        nn.TransformerEncoderLayer(8, 2, activation='tanh')


def test_training_step_reduces_loss():
    ember.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, 2)
    x = ember.randn(4, 5, 8)
    target = ember.randn(4, 5, 8)
    losses = []
    for _ in range(5):
        model.zero_grad()
        loss = ((model(x) - target) ** 2).mean()
        loss.backward()
        with ember.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
        losses.append(float(loss))
    assert losses[-1] < losses[0]


# ---- layer_norm: the one-node array path against the op-by-op formula ---------------------------------------

def _layer_norm_composite(x, k, w, b, eps=1e-5):
    from ember.ops import nn_ops
    xhat = nn_ops.normalize_core(x, tuple(range(x.ndim - k, x.ndim)), eps)[0]
    xhat = xhat * w if w is not None else xhat
    return xhat + b if b is not None else xhat


@pytest.mark.parametrize('affine', ['both', 'weight', 'none'])
@pytest.mark.parametrize('shape,k', [((3, 5), 1), ((2, 3, 4), 2), ((0, 4), 1), ((4,), 1)])
def test_layer_norm_one_node_matches_composite(affine, shape, k):
    x = _e64(rnd(*shape))
    ns = shape[len(shape) - k:]
    w = _e64(rnd(*ns)) if affine != 'none' else None
    b = _e64(rnd(*ns)) if affine == 'both' else None
    got = F.layer_norm(x, ns, w, b)
    assert got.grad_fn.name() == 'NativeLayerNormBackward0'
    ref = _layer_norm_composite(x, k, w, b)
    np.testing.assert_allclose(got.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rnd(*shape)
    ins = [t for t in (x, w, b) if t is not None]
    d_got = ember.autograd.grad(got, ins, ember.tensor(g))
    d_ref = ember.autograd.grad(ref, ins, ember.tensor(g))
    for a, r in zip(d_got, d_ref):
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-10, atol=1e-12)


def test_layer_norm_one_node_gradcheck_and_double_backward():
    x, w, b = _e64(rnd(3, 6)), _e64(rnd(6)), _e64(rnd(6))
    assert gradcheck(lambda a, c, d: F.layer_norm(a, (6,), c, d), (x, w, b))
    assert gradgradcheck(lambda a, c, d: F.layer_norm(a, (6,), c, d), (x, w, b))


def test_layer_norm_one_node_float32_and_retained_graph():
    x = ember.tensor(rnd(4, 8).astype(np.float32), requires_grad=True)
    w = ember.tensor(rnd(8).astype(np.float32), requires_grad=True)
    y = F.layer_norm(x, (8,), w)
    assert y.dtype == ember.float32
    g1, g2 = rnd(4, 8).astype(np.float32), rnd(4, 8).astype(np.float32)
    # only w's gradient first (x's is left uncomputed), then both with another seed: no stale reuse
    (dw1,) = ember.autograd.grad(y, [w], ember.tensor(g1), retain_graph=True)
    dx2, dw2 = ember.autograd.grad(y, [x, w], ember.tensor(g2))
    ref = _layer_norm_composite(x, 1, w, None)
    rx2, rw2 = ember.autograd.grad(ref, [x, w], ember.tensor(g2), retain_graph=True)
    (rw1,) = ember.autograd.grad(ref, [w], ember.tensor(g1))
    for a, r in ((dw1, rw1), (dx2, rx2), (dw2, rw2)):
        assert a.dtype == ember.float32
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-5, atol=1e-6)


@needs_torch
def test_layer_norm_float32_matches_torch():
    a, wa, ba, ga = (rnd(5, 7).astype(np.float32), rnd(7).astype(np.float32), rnd(7).astype(np.float32),
                     rnd(5, 7).astype(np.float32))
    ex, ew, eb = (ember.tensor(v, requires_grad=True) for v in (a, wa, ba))
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (a, wa, ba))
    ey, ty = F.layer_norm(ex, (7,), ew, eb), torch.nn.functional.layer_norm(tx, (7,), tw, tb)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    ey.backward(ember.tensor(ga))
    ty.backward(torch.tensor(ga))
    for e, t in ((ex, tx), (ew, tw), (eb, tb)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


# ---- embedding backward: sorted segment sums instead of add.at --------------------------------------------------

@pytest.mark.parametrize('padding_idx', [None, 2])
@pytest.mark.parametrize('idx_shape', [(4, 9), (0,), (1,)])
def test_embedding_backward_sums_repeated_rows(padding_idx, idx_shape):
    V, D = 6, 5
    idx = rnd.rng.integers(0, V, idx_shape)
    w = _e64(rnd(V, D))
    g = rnd(*idx_shape, D)
    out = F.embedding(ember.tensor(idx), w, padding_idx=padding_idx)
    out.backward(ember.tensor(g))
    ref = np.zeros((V, D))
    np.add.at(ref, idx.reshape(-1), g.reshape(-1, D))
    if padding_idx is not None:
        ref[padding_idx] = 0
    np.testing.assert_allclose(w.grad.numpy(), ref, rtol=1e-12, atol=1e-12)


@needs_torch
def test_embedding_backward_float32_matches_torch():
    idx = rnd.rng.integers(0, 65, (32, 64))
    wa, ga = rnd(65, 16).astype(np.float32), rnd(32, 64, 16).astype(np.float32)
    ew, tw = ember.tensor(wa, requires_grad=True), torch.tensor(wa, requires_grad=True)
    F.embedding(ember.tensor(idx), ew).backward(ember.tensor(ga))
    torch.nn.functional.embedding(torch.tensor(idx), tw).backward(torch.tensor(ga))
    assert ew.grad.dtype == ember.float32
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-5)
