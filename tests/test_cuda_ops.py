"""Ops, autograd, layers, losses and optimizers on cuda against the same on cpu."""
import copy
import io

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.ops import nn_ops

from _cuda_common import needs_cuda, _np, _close


# ---- ops: cuda against cpu, forward and backward -------------------------------------------------------------------
E = ember
_OPS = {
    # elementwise
    'add': (lambda a, b: a + b, [(3, 4), (4,)]), 'sub': (lambda a, b: a - b, [(3, 4), (3, 1)]),
    'mul': (lambda a, b: a * b, [(2, 3), (2, 3)]), 'div': (lambda a, b: a / (b.abs() + 1), [(3,), (3,)]),
    'pow': (lambda a, b: a.abs().add(0.5) ** b, [(4,), (4,)]), 'pow2': (lambda a: a ** 2, [(5,)]),
    'rpow': (lambda a: 2.0 ** a, [(5,)]), 'exp': (E.exp, [(5,)]), 'log': (lambda a: (a.abs() + 0.1).log(), [(5,)]),
    'sqrt': (lambda a: (a.abs() + 0.1).sqrt(), [(5,)]), 'rsqrt': (lambda a: (a.abs() + 0.1).rsqrt(), [(5,)]),
    'sin': (E.sin, [(5,)]), 'cos': (E.cos, [(5,)]), 'tanh': (E.tanh, [(5,)]), 'sigmoid': (E.sigmoid, [(6,)]),
    'relu': (E.relu, [(3, 4)]), 'abs': (E.abs, [(5,)]), 'clamp': (lambda a: a.clamp(-0.5, 0.5), [(8,)]),
    'clamp_t': (lambda a, lo: a.clamp(min=lo), [(4,), (4,)]), 'maximum': (E.maximum, [(4,), (4,)]),
    'where': (lambda a, b: E.where(a > 0, a, b), [(5,), (5,)]), 'log1p': (lambda a: a.abs().log1p(), [(5,)]),
    'expm1': (E.expm1, [(5,)]), 'atan': (E.atan, [(5,)]), 'reciprocal': (lambda a: (a.abs() + 1).reciprocal(), [(4,)]),
    'remainder': (lambda a: a.remainder(0.7), [(6,)]), 'fmod': (lambda a: a.fmod(0.7), [(6,)]),
    'gelu': (F.gelu, [(7,)]), 'gelu_tanh': (lambda a: F.gelu(a, approximate='tanh'), [(7,)]),
    'silu': (F.silu, [(6,)]), 'softplus': (F.softplus, [(6,)]), 'leaky_relu': (F.leaky_relu, [(6,)]),
    'elu': (F.elu, [(6,)]), 'hardtanh': (F.hardtanh, [(6,)]), 'erf': (nn_ops.erf, [(6,)]),
    # reductions
    'sum': (lambda a: a.sum(1), [(3, 4)]), 'sum_all': (lambda a: a.sum(), [(3, 4)]),
    'mean': (lambda a: a.mean((0, 2), keepdim=True), [(2, 3, 4)]), 'prod': (lambda a: a.prod(1), [(3, 4)]),
    'prod_zero': (lambda a: (a * E.tensor([1.0, 0.0, 1.0], dtype=a.dtype, device=a.device)).prod(0), [(3,)]),
    'max': (lambda a: a.max(1).values, [(3, 4)]), 'amax': (lambda a: a.amax(0), [(3, 4)]),
    'min_all': (lambda a: a.min(), [(3, 4)]), 'var': (lambda a: a.var(1), [(3, 4)]), 'std': (lambda a: a.std(), [(7,)]),
    'norm': (lambda a: a.norm(), [(3, 4)]), 'norm3': (lambda a: a.norm(3, 1), [(3, 4)]),
    'logsumexp': (lambda a: a.logsumexp(1), [(3, 4)]), 'softmax': (lambda a: a.softmax(1), [(3, 4)]),
    'log_softmax': (lambda a: a.log_softmax(-1), [(3, 4)]), 'cumsum': (lambda a: a.cumsum(1), [(3, 4)]),
    'cumprod': (lambda a: a.cumprod(0), [(4, 2)]), 'argmax': (lambda a: a.argmax(1), [(3, 4)]),
    # shape
    'reshape': (lambda a: a.reshape(4, 3), [(3, 4)]), 'view': (lambda a: a.view(-1), [(3, 4)]),
    'permute': (lambda a: a.permute(2, 0, 1), [(2, 3, 4)]), 'transpose': (lambda a: a.t(), [(3, 4)]),
    'expand': (lambda a: a.expand(3, 4), [(1, 4)]), 'repeat': (lambda a: a.repeat(2, 1), [(2, 3)]),
    'cat': (lambda a, b: E.cat([a, b], 1), [(2, 3), (2, 2)]), 'stack': (lambda a, b: E.stack([a, b]), [(3,), (3,)]),
    'split': (lambda a: a.split(2, 1)[1], [(3, 5)]), 'flip': (lambda a: a.flip(0), [(3, 2)]),
    'roll': (lambda a: a.roll(1, 1), [(2, 4)]), 'tril': (lambda a: a.tril(), [(3, 3)]),
    'diagonal': (lambda a: a.diagonal(), [(3, 4)]), 'squeeze': (lambda a: a.unsqueeze(0).squeeze(0), [(3,)]),
    # indexing
    'getitem': (lambda a: a[1:, ::2], [(3, 4)]), 'getitem_int': (lambda a: a[E.tensor([0, 2, 0], device=a.device)],
                                                                   [(3, 4)]),
    'getitem_mask': (lambda a: a[a > 0], [(3, 4)]),
    'gather': (lambda a: a.gather(1, E.tensor([[0, 0], [1, 0], [3, 2]], device=a.device)), [(3, 4)]),
    'scatter_add': (lambda a, s: a.scatter_add(0, E.tensor([[0, 1, 0], [0, 1, 1]], device=a.device), s),
                    [(2, 3), (2, 3)]),
    'index_select': (lambda a: a.index_select(1, E.tensor([3, 0, 3], device=a.device)), [(2, 4)]),
    'index_add': (lambda a, s: a.index_add(0, E.tensor([0, 0, 2], device=a.device), s), [(3, 2), (3, 2)]),
    'masked_fill': (lambda a: a.masked_fill(a < 0, -1.5), [(3, 4)]), 'take': (lambda a: a.take(
        E.tensor([0, 5, 5], device=a.device)), [(2, 3)]),
    'embedding': (lambda w: F.embedding(E.tensor([[0, 2], [2, 2]], device=w.device), w), [(4, 3)]),
    # linalg and sorting
    'matmul': (lambda a, b: a @ b, [(3, 4), (4, 2)]), 'bmm': (lambda a, b: a.bmm(b), [(2, 3, 4), (2, 4, 5)]),
    'matmul_bcast': (lambda a, b: a @ b, [(2, 3, 4), (4,)]), 'dot': (lambda a, b: a.dot(b), [(5,), (5,)]),
    'einsum': (lambda a, b: E.einsum('ij,jk->ik', a, b), [(2, 3), (3, 2)]), 'outer': (E.outer, [(3,), (2,)]),
    'sort': (lambda a: a.sort(1, descending=True).values, [(3, 5)]), 'topk': (lambda a: a.topk(2).values, [(3, 5)]),
    'median': (lambda a: a.median(), [(7,)]), 'kthvalue': (lambda a: a.kthvalue(2, 1).values, [(3, 4)]),
    'linear': (lambda x, w, b: F.linear(x, w, b), [(5, 3), (4, 3), (4,)]),
    'cross_entropy': (lambda x: F.cross_entropy(x, E.tensor([1, 0, 3], device=x.device)), [(3, 4)]),
    'cross_entropy_opts': (lambda x, w: F.cross_entropy(x, E.tensor([1, -100, 3], device=x.device), weight=w.abs(),
                                                        label_smoothing=0.1), [(3, 4), (4,)]),
    'cross_entropy_3d': (lambda x: F.cross_entropy(
        x, E.tensor([[1, 0], [3, 3]], device=x.device), weight=E.tensor([1.0, 2.0, 0.5, 1.5], dtype=x.dtype,
                                                                          device=x.device),
        label_smoothing=0.2, reduction='sum'), [(2, 4, 2)]),
    'nll': (lambda x: F.nll_loss(x.log_softmax(1), E.tensor([1, 0, 3], device=x.device)), [(3, 4)]),
    'mse': (lambda a, b: F.mse_loss(a, b), [(3, 4), (3, 4)]),
    'bce': (lambda a, b: F.binary_cross_entropy(a.sigmoid(), b.sigmoid()), [(6,), (6,)]),
    'layer_norm': (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    'batch_norm': (lambda x: F.batch_norm(x, None, None, training=True), [(4, 3, 2)]),
}


def _run(fn, arrays, device, dtype):
    leaves = [ember.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    if out.dtype.is_floating_point and out.requires_grad:
        w = ember.tensor(np.cos(np.arange(out.numel()) * 0.7 + 0.3).reshape(tuple(out.shape)), dtype=out.dtype,
                         device=device)
        (out * w).sum().backward()
    return _np(out), [None if t.grad is None else _np(t.grad) for t in leaves]


@needs_cuda
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('name', sorted(_OPS))
def test_op_on_cuda_matches_cpu(name, dtype):
    fn, shapes = _OPS[name]
    rng = np.random.default_rng(len(name))
    arrays = [rng.standard_normal(s) for s in shapes]
    dt = getattr(ember, dtype)
    ov, og = _run(fn, arrays, 'cpu', dt)
    cv, cg = _run(fn, arrays, 'cuda', dt)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == 'float32' else dict(rtol=1e-9, atol=1e-11)
    _close(cv, ov, msg=f'{name} forward', **tol)
    for i, (c, o) in enumerate(zip(cg, og)):
        assert (c is None) == (o is None)
        if c is not None:
            _close(c, o, msg=f'{name} gradient {i}', **tol)


_GRADCHECK = ['mul', 'div', 'pow', 'exp', 'sigmoid', 'relu', 'gelu', 'gelu_tanh', 'sum', 'prod_zero', 'max', 'std',
              'norm', 'logsumexp', 'softmax', 'cumprod', 'permute', 'cat', 'getitem_int', 'gather', 'scatter_add',
              'index_add', 'masked_fill', 'embedding', 'matmul', 'bmm', 'einsum', 'sort', 'median', 'linear',
              'cross_entropy', 'cross_entropy_3d', 'layer_norm', 'batch_norm', 'bce']


@needs_cuda
@pytest.mark.parametrize('name', _GRADCHECK)
def test_gradcheck_on_cuda(name):
    fn, shapes = _OPS[name]
    rng = np.random.default_rng(len(name) + 1)
    leaves = [ember.tensor(rng.standard_normal(s), dtype=ember.float64, device='cuda', requires_grad=True)
              for s in shapes]
    assert ember.autograd.gradcheck(fn, tuple(leaves))


@needs_cuda
def test_repeated_index_gradients_accumulate_on_cuda():
    x = ember.zeros(4, device='cuda', requires_grad=True)
    idx = ember.tensor([1, 1, 3, 1], device='cuda')
    x[idx].sum().backward()
    assert x.grad.tolist() == [0, 3, 0, 1]
    a = ember.ones(3, dtype=ember.int64, device='cuda').index_put_((ember.tensor([0, 0], device='cuda'),),
                                                                     ember.tensor([2, 5], device='cuda'),
                                                                     accumulate=True)
    assert a.tolist() == [8, 1, 1]
    m = ember.ones(3, device='cuda').scatter(0, ember.tensor([0, 0, 2], device='cuda'),
                                            ember.tensor([2.0, 3.0, 4.0], device='cuda'), reduce='multiply')
    assert m.tolist() == [6.0, 1.0, 4.0]


@needs_cuda
def test_views_inplace_and_rng_on_cuda():
    x = ember.arange(6.0, device='cuda').reshape(2, 3)
    assert x.view(3, 2).shape == (3, 2)
    with pytest.raises(RuntimeError, match='view'):
        x.t().view(6)
    x.add_(1).mul_(2)
    assert x.tolist() == [[2, 4, 6], [8, 10, 12]]
    ember.manual_seed(5)
    a = ember.randn(5, device='cuda')
    ember.manual_seed(5)
    assert ember.equal(a, ember.randn(5, device='cuda'))
    g = ember.Generator('cuda').manual_seed(3)
    s = g.get_state()
    b = ember.rand(4, generator=g, device='cuda')
    g.set_state(s)
    assert ember.equal(b, ember.rand(4, generator=g, device='cuda'))
    ember.cuda.manual_seed(9)
    st = ember.cuda.get_rng_state()
    c = ember.randn(3, device='cuda')
    ember.cuda.set_rng_state(st)
    assert ember.equal(c, ember.randn(3, device='cuda'))
    d = F.dropout(ember.ones(10000, device='cuda'), 0.3)
    assert abs((d == 0).float().mean().item() - 0.3) < 0.03
    e = ember.empty(1000, device='cuda').uniform_(2, 3)
    assert 2 <= e.min().item() and e.max().item() < 3
    assert ember.empty(100, device='cuda').normal_().is_cuda and ember.empty(50, device='cuda').random_(0, 7).max() < 7
    assert ember.multinomial(ember.tensor([0.1, 0.9], device='cuda'), 4, replacement=True).is_cuda


# ---- layers, losses, optimizers: cuda copies of cpu modules ---------------------------------------------------------

def _layer_cases():
    return {
        'linear': (lambda: nn.Linear(5, 3), (4, 5)),
        'conv2d': (lambda: nn.Conv2d(2, 3, 3, padding=1, stride=2), (2, 2, 7, 7)),
        'conv1d': (lambda: nn.Conv1d(2, 4, 3), (3, 2, 9)),
        'maxpool': (lambda: nn.MaxPool2d(2), (2, 3, 6, 6)),
        'batchnorm': (lambda: nn.BatchNorm2d(3), (4, 3, 5, 5)),
        'layernorm': (lambda: nn.LayerNorm(6), (3, 4, 6)),
        'embedding': (lambda: nn.Embedding(10, 4), None),
        'lstm': (lambda: nn.LSTM(4, 5, num_layers=2, batch_first=True), (3, 6, 4)),
        'gru': (lambda: nn.GRU(4, 5), (6, 3, 4)),
        'mha': (lambda: nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8)),
        'transformer': (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), (2, 5, 8)),
        'dropout_eval': (lambda: nn.Dropout(0.5).eval(), (4, 4)),
    }


@needs_cuda
@pytest.mark.parametrize('name', sorted(_layer_cases()))
def test_layer_on_cuda_matches_cpu(name):
    make, shape = _layer_cases()[name]
    ember.manual_seed(0)
    m = make().double()
    mc = copy.deepcopy(m).to('cuda')
    assert all(p.is_cuda for p in mc.parameters()) and all(b.is_cuda for b in mc.buffers())
    rng = np.random.default_rng(1)
    if name == 'embedding':
        xc_ = ember.tensor([[1, 2, 9], [0, 0, 3]])
        x, xc = xc_, xc_.cuda()
    else:
        a = rng.standard_normal(shape)
        x = ember.tensor(a, requires_grad=True)
        xc = ember.tensor(a, device='cuda', requires_grad=True)

    def first(o):
        return o[0] if isinstance(o, tuple) else o
    if name == 'mha':
        o, oc = first(m(x, x, x)), first(mc(xc, xc, xc))
    else:
        o, oc = first(m(x)), first(mc(xc))
    _close(oc, o, 1e-9, 1e-11)
    w = np.cos(np.arange(o.numel())).reshape(tuple(o.shape))
    (o * ember.tensor(w)).sum().backward()
    (oc * ember.tensor(w, device='cuda')).sum().backward()
    if x.requires_grad:
        _close(xc.grad, x.grad, 1e-9, 1e-11)
    for (n, p), pc in zip(m.named_parameters(), mc.parameters()):
        _close(pc.grad, p.grad, 1e-9, 1e-11, msg=n)
    for b, bc in zip(m.buffers(), mc.buffers()):
        _close(bc, b, 1e-9, 1e-11)


@needs_cuda
@pytest.mark.parametrize('loss', ['CrossEntropyLoss', 'NLLLoss', 'MSELoss', 'L1Loss', 'BCEWithLogitsLoss',
                                  'SmoothL1Loss', 'KLDivLoss', 'HuberLoss'])
def test_losses_on_cuda_match_cpu(loss):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 4))
    if loss in ('CrossEntropyLoss', 'NLLLoss'):
        t = ember.tensor(rng.integers(0, 4, 6))
    else:
        t = ember.tensor(rng.random((6, 4)))
    fn = getattr(nn, loss)()
    outs = []
    for dev in ('cpu', 'cuda'):
        x = ember.tensor(a, device=dev, requires_grad=True)
        inp = x.log_softmax(1) if loss in ('NLLLoss', 'KLDivLoss') else x
        out = fn(inp, t.to(dev))
        out.backward()
        outs.append((out, x.grad))
    _close(outs[1][0], outs[0][0], 1e-10, 1e-12)
    _close(outs[1][1], outs[0][1], 1e-10, 1e-12)


@needs_cuda
@pytest.mark.parametrize('opt', ['SGD', 'SGD_nesterov', 'Adam', 'Adam_amsgrad', 'AdamW', 'RMSprop', 'Adagrad'])
def test_optimizers_on_cuda_match_cpu(opt):
    ember.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    mc = copy.deepcopy(m).cuda()
    kw = {'SGD': dict(lr=0.1, momentum=0.9, weight_decay=0.01), 'SGD_nesterov': dict(lr=0.1, momentum=0.9,
                                                                                       nesterov=True),
          'Adam': dict(lr=0.01), 'Adam_amsgrad': dict(lr=0.01, amsgrad=True, weight_decay=0.1),
          'AdamW': dict(lr=0.01, weight_decay=0.05), 'RMSprop': dict(lr=0.01), 'Adagrad': dict(lr=0.1)}[opt]
    cls = getattr(ember.optim, opt.split('_')[0])
    o, oc = cls(m.parameters(), **kw), cls(mc.parameters(), **kw)
    rng = np.random.default_rng(3)
    for _ in range(5):
        a = rng.standard_normal((5, 4))
        t = rng.integers(0, 3, 5)
        for model, optim, dev in ((m, o, 'cpu'), (mc, oc, 'cuda')):
            optim.zero_grad()
            F.cross_entropy(model(ember.tensor(a, device=dev)), ember.tensor(t, device=dev)).backward()
            optim.step()
    for p, pc in zip(m.parameters(), mc.parameters()):
        _close(pc, p, 1e-9, 1e-11)
    for k, v in oc.state_dict()['state'].items():
        for name, val in v.items():
            if isinstance(val, ember.Tensor) and val.numel() > 1:
                assert val.is_cuda, name


@needs_cuda
def test_save_and_load_with_map_location():
    m = nn.Linear(3, 2).cuda()
    buf = io.BytesIO()
    ember.save(m.state_dict(), buf)
    for loc, want in ((None, 'cuda'), ('cpu', 'cpu'), (ember.device('cpu'), 'cpu'), ({'cuda:0': 'cpu'}, 'cpu'),
                      ('cuda', 'cuda'), (lambda t, where: t, 'cpu')):
        buf.seek(0)
        sd = ember.load(buf, map_location=loc) if loc is not None else ember.load(buf)
        assert sd['weight'].device.type == want, loc
        _close(sd['weight'], m.weight, 0, 0)
    cpu_buf = io.BytesIO()
    ember.save({'w': ember.ones(2)}, cpu_buf)
    cpu_buf.seek(0)
    assert ember.load(cpu_buf, map_location='cuda')['w'].is_cuda
    m2 = nn.Linear(3, 2)
    buf.seek(0)
    m2.load_state_dict(ember.load(buf, map_location='cpu'))
    _close(m2.weight, m.weight, 0, 0)


@needs_cuda
def test_short_training_run_on_cuda():
    ember.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 10)).astype(np.float32)
    y = (X[:, :3].sum(1) > 0).astype(np.int64) + (X[:, 3] > 1)
    Xc, yc = ember.tensor(X, device='cuda'), ember.tensor(y, device='cuda')
    model = nn.Sequential(nn.Linear(10, 32), nn.GELU(), nn.LayerNorm(32), nn.Dropout(0.1), nn.Linear(32, 3)).cuda()
    opt = ember.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for epoch in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(Xc), yc)
        loss.backward()
        opt.step()
        if first is None:
            first = loss.item()
    assert loss.item() < first * 0.5
    model.eval()
    acc = (model(Xc).argmax(1) == yc).float().mean().item()
    assert acc > 0.85
