"""nn.Module API: registration, naming, state dicts, hooks, modes, conversion, containers and repr (vs PyTorch)."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import ember
import ember.nn as nn
from conftest import torch, needs_torch


def _net(nn, fw):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.register_buffer('steps', fw.zeros(1))
            self.register_buffer('scratch', fw.zeros(2), persistent=False)

        def forward(self, x):
            return self.fc(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.1))
            self.layer1 = nn.ModuleList([Block() for _ in range(3)] + [nn.Identity()])
            self.heads = nn.ModuleDict({'cls': nn.Linear(3, 2), 'reg': nn.Linear(3, 1, bias=False)})
            self.norm = nn.LayerNorm(3)
            self.pl = nn.ParameterList([nn.Parameter(fw.zeros(2, 3)), nn.Parameter(fw.ones(1))])
            self.pd = nn.ParameterDict({'scale': nn.Parameter(fw.ones(3))})
            self.act = nn.LeakyReLU(0.2, inplace=True)
            self.loss = nn.CrossEntropyLoss()

        def forward(self, x):
            h = self.stem(x)
            for m in self.layer1:
                h = m(h)
            return self.heads['cls'](self.norm(h) * self.pd['scale'])
    return Net()


@needs_torch
def test_names_state_dict_and_repr_match_pytorch():
    e, t = _net(nn, ember), _net(torch.nn, torch)
    assert repr(e) == repr(t)
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in e.named_children()] == [n for n, _ in t.named_children()]
    assert list(e.state_dict()) == list(t.state_dict())
    assert [n for n, _ in e.named_parameters(prefix='m', recurse=False)] == \
        [n for n, _ in t.named_parameters(prefix='m', recurse=False)]
    assert [n for n, _ in e.layer1.named_modules(prefix='x')] == [n for n, _ in t.layer1.named_modules(prefix='x')]
    assert sorted(set(dir(e)) & set(dir(t))) == sorted(set(dir(t)) & set(dir(e)))
    for name in ('stem', 'layer1', 'heads', 'norm', 'pl', 'pd', 'fc', 'steps'):
        assert (name in dir(e)) == (name in dir(t))


def test_state_dict_shares_storage_and_round_trips():
    m = _net(nn, ember)
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    w = sd['stem.0.weight']
    assert not w.requires_grad and not isinstance(w, nn.Parameter)
    w[0, 0] = 42.0
    assert m.stem[0].weight[0, 0].item() == 42.0
    assert 'layer1.0.scratch' not in sd and 'layer1.0.steps' in sd
    kv = m.state_dict(keep_vars=True)
    assert kv['stem.0.weight'] is m.stem[0].weight
    m2 = _net(nn, ember)
    res = m2.load_state_dict({k: v.clone() for k, v in sd.items()})
    assert res.missing_keys == [] and res.unexpected_keys == [] and repr(res) == '<All keys matched successfully>'
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), k
    # load_state_dict copies in place: the parameter objects are the same
    p = m2.stem[0].weight
    m2.load_state_dict(sd)
    assert m2.stem[0].weight is p


def test_load_state_dict_errors_and_non_strict():
    m = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    sd = m.state_dict()
    del sd['1.bias']
    sd['2.weight'] = ember.zeros(1)
    sd['extra'] = ember.zeros(1)
    with pytest.raises(RuntimeError) as ei:
        m.load_state_dict(sd)
    msg = str(ei.value)
    assert msg.startswith('Error(s) in loading state_dict for Sequential:')
    assert 'Missing key(s) in state_dict: "1.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "2.weight", "extra".' in msg
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ['1.bias'] and res.unexpected_keys == ['2.weight', 'extra']
    bad = m.state_dict()
    bad['0.weight'] = ember.zeros(4, 4)
    with pytest.raises(RuntimeError, match=r'size mismatch for 0\.weight: copying a param with shape .*\[4, 4\].* '
                                           r'the shape in current model is .*\[3, 2\]'):
        m.load_state_dict(bad)
    with pytest.raises(TypeError):
        m.load_state_dict([1, 2])


@needs_torch
def test_load_state_dict_error_text_matches_pytorch():
    def err(fw, nn_):
        fw.manual_seed(0)
        m = nn_.Sequential(nn_.Linear(2, 3), nn_.Linear(3, 1))
        sd = m.state_dict()
        del sd['1.bias']
        sd['zz'] = fw.zeros(1)
        with pytest.raises(RuntimeError) as ei:
            m.load_state_dict(sd)
        return str(ei.value)
    assert err(ember, nn) == err(torch, torch.nn)


def test_load_state_dict_assign_and_batchnorm_legacy():
    m = nn.Linear(2, 2)
    new = {'weight': ember.ones(2, 2), 'bias': ember.zeros(2)}
    m.load_state_dict(new, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    assert m.weight.data_ptr() == new['weight'].data_ptr()
    bn = nn.BatchNorm1d(3)
    sd = {k: v for k, v in bn.state_dict().items() if k != 'num_batches_tracked'}
    assert bn.load_state_dict(sd).missing_keys == []   # old checkpoints without the counter still load


def test_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(ember.zeros(2))
    assert 'w' in m._parameters and 'w' not in m.__dict__
    with pytest.raises(TypeError, match="cannot assign 'torch.FloatTensor' as parameter 'w'"):
        m.w = ember.zeros(2)
    m.w = None
    assert m._parameters['w'] is None and m.w is None
    m.register_buffer('b', ember.zeros(1))
    m.b = ember.ones(1)
    assert m._buffers['b'].item() == 1.0
    with pytest.raises(TypeError):
        m.b = 3
    m.sub = nn.Linear(1, 1)
    with pytest.raises(TypeError):
        m.sub = 3
    with pytest.raises(KeyError, match='already exists'):
        m.register_buffer('sub', ember.zeros(1))
    with pytest.raises(KeyError, match='contain'):
        m.register_parameter('a.b', None)
    with pytest.raises(KeyError):
        m.add_module('', nn.Linear(1, 1))
    with pytest.raises(TypeError, match='is not a Module subclass'):
        m.add_module('x', 3)
    with pytest.raises(TypeError):
        m.register_parameter('p', ember.zeros(1))
    m.register_module('other', nn.ReLU())
    assert m.other is m._modules['other']
    m.plain = 5
    assert m.plain == 5 and 'plain' in m.__dict__
    # rebinding a name moves it between registries
    m.sub = nn.Parameter(ember.zeros(1))
    assert 'sub' in m._parameters and 'sub' not in m._modules
    del m.sub
    assert not hasattr(m, 'sub')
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
        m.nothing
    m.buf = nn.Buffer(ember.zeros(3), persistent=False)
    assert 'buf' in m._buffers and 'buf' not in m.state_dict()

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ember.zeros(1))
    with pytest.raises(AttributeError, match='before Module.__init__'):
        Early()


def test_parameter_basics():
    t = ember.randn(2, 3)
    p = nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and isinstance(p, ember.Tensor)
    assert p.data_ptr() == t.data_ptr()
    assert repr(p).startswith('Parameter containing:\ntensor(')
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert type(p * 2) is ember.Tensor
    q = copy.deepcopy(p)
    assert type(q) is nn.Parameter and q.requires_grad and q.data_ptr() != p.data_ptr()
    r = pickle.loads(pickle.dumps(p))
    assert type(r) is nn.Parameter and np.array_equal(r.detach().numpy(), p.detach().numpy())
    assert nn.Parameter().shape == (0,)
    with pytest.raises(RuntimeError):
        nn.Parameter(ember.zeros(2, dtype=ember.int64))


def test_get_submodule_parameter_buffer():
    m = _net(nn, ember)
    assert m.get_submodule('layer1.0.fc') is m.layer1[0].fc
    assert m.get_parameter('layer1.0.fc.bias') is m.layer1[0].fc.bias
    assert m.get_buffer('layer1.1.steps') is m.layer1[1].steps
    with pytest.raises(AttributeError, match='has no attribute `nope`'):
        m.get_submodule('layer1.nope')
    with pytest.raises(AttributeError, match='is not an nn.Parameter'):
        m.get_parameter('layer1.0.steps')
    m.set_submodule('layer1.0.fc', nn.Identity())
    assert isinstance(m.layer1[0].fc, nn.Identity)


def test_shared_parameters_are_deduplicated():
    lin = nn.Linear(2, 2)
    m = nn.Sequential(lin, lin)
    assert [n for n, _ in m.named_parameters()] == ['0.weight', '0.bias']
    assert len(list(m.named_parameters(remove_duplicate=False))) == 4
    assert [n for n, _ in m.named_modules()] == ['', '0']
    assert list(m.state_dict()) == ['0.weight', '0.bias', '1.weight', '1.bias']


def test_train_eval_zero_grad_requires_grad():
    m = _net(nn, ember)
    assert all(x.training for x in m.modules())
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    with pytest.raises(ValueError):
        m.train('yes')
    out = m(ember.randn(5, 4)).sum()
    out.backward()
    assert m.stem[0].weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert m.stem[0].weight.grad is not None and float(m.stem[0].weight.grad.abs().sum()) == 0.0
    m.zero_grad()
    assert m.stem[0].weight.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_apply_and_dtype_conversion_keep_parameter_identity():
    m = _net(nn, ember)
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == 'Net' and seen[0] == 'Linear'
    w = m.stem[0].weight
    m(ember.randn(2, 4)).sum().backward()
    assert m.double() is m
    assert m.stem[0].weight is w and w.dtype == ember.float64 and w.grad.dtype == ember.float64
    assert m.layer1[0].steps.dtype == ember.float64
    m.float()
    assert w.dtype == ember.float32
    m.to(ember.float64)
    assert w.dtype == ember.float64
    m.to('cpu', dtype=ember.float32)
    assert w.dtype == ember.float32
    m.to(ember.zeros(1, dtype=ember.float64))
    assert w.dtype == ember.float64
    with pytest.raises(TypeError, match='floating point'):
        m.to(ember.int64)
    bn = nn.BatchNorm1d(2).double()
    assert bn.num_batches_tracked.dtype == ember.int64   # only floating tensors are cast
    m.half()
    assert w.dtype == ember.float16
    assert m.cpu() is m
    assert m.type(ember.float32) is m and w.dtype == ember.float32


def test_forward_hooks():
    m = nn.Linear(3, 2)
    log = []
    h1 = m.register_forward_pre_hook(lambda mod, args: log.append(('pre', args[0].shape)))
    h2 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h3 = m.register_forward_hook(lambda mod, args, out: out + 100)
    y = m(ember.ones(4, 3))
    assert log == [('pre', (4, 3))]
    assert np.allclose(y.detach().numpy(), m.bias.detach().numpy() + 100)
    for h in (h1, h2, h3):
        h.remove()
    y = m(ember.ones(4, 3))
    assert not np.allclose(y.detach().numpy(), m.bias.detach().numpy() + 100)
    # with_kwargs, prepend and context-manager handles
    order = []

    class K(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale
    k = K()
    k.register_forward_pre_hook(lambda mod, args, kwargs: (args, {'scale': 3.0}), with_kwargs=True)
    k.register_forward_hook(lambda mod, args, kwargs, out: order.append(('b', kwargs['scale'])), with_kwargs=True)
    with k.register_forward_hook(lambda mod, args, out: order.append('a'), prepend=True):
        assert k(ember.ones(1)).item() == 3.0
    assert order == ['a', ('b', 3.0)]
    k(ember.ones(1))
    assert order[-1] == ('b', 3.0) and order.count('a') == 1


def test_global_forward_hook():
    from ember.nn.modules.module import register_module_forward_hook
    seen = []
    h = register_module_forward_hook(lambda mod, args, out: seen.append(type(mod).__name__))
    try:
        nn.Sequential(nn.Linear(2, 2), nn.ReLU())(ember.ones(1, 2))
    finally:
        h.remove()
    assert seen == ['Linear', 'ReLU', 'Sequential']


@needs_torch
def test_full_backward_hook_matches_pytorch():
    def run(fw, nn_):
        fw.manual_seed(0)
        m = nn_.Sequential(nn_.Linear(3, 4), nn_.Tanh(), nn_.Linear(4, 2))
        with fw.no_grad():
            for p in m.parameters():
                p.copy_(fw.tensor(np.linspace(-1, 1, p.numel()).reshape(tuple(p.shape)), dtype=fw.float32))
        got = []

        def hook(mod, gin, gout):
            got.append(([None if g is None else g.detach().numpy().copy() for g in gin],
                        [g.detach().numpy().copy() for g in gout]))
            return (gin[0] * 2,)
        m[2].register_full_backward_hook(hook)
        pre = []
        m[0].register_full_backward_pre_hook(lambda mod, gout: pre.append(gout[0].detach().numpy().copy()))
        x = fw.tensor(np.arange(6.0).reshape(2, 3) / 5, dtype=fw.float32, requires_grad=True)
        m(x).sum().backward()
        return got, pre, x.grad.numpy()
    (eg, ep, ex), (tg, tp, tx) = run(ember, nn), run(torch, torch.nn)
    assert len(eg) == len(tg) == 1
    for a, b in zip(eg[0][0] + eg[0][1], tg[0][0] + tg[0][1]):
        assert np.allclose(a, b, atol=1e-6)
    assert np.allclose(ep[0], tp[0], atol=1e-6)
    assert np.allclose(ex, tx, atol=1e-6)


def test_backward_hook_without_input_grad():
    m = nn.Linear(2, 2)
    got = []
    m.register_full_backward_hook(lambda mod, gin, gout: got.append((gin, gout[0].shape)))
    m(ember.ones(3, 2)).sum().backward()
    assert got == [((None,), (3, 2))]


def test_state_dict_and_load_hooks():
    m = nn.Linear(2, 2)
    calls = []
    m.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: calls.append('pre'))
    m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: calls.append('post'))
    m.register_load_state_dict_pre_hook(lambda mod, sd, prefix, *a: calls.append('load_pre'))
    m.register_load_state_dict_post_hook(lambda mod, keys: keys.unexpected_keys.clear())
    sd = m.state_dict()
    sd['junk'] = ember.zeros(1)
    assert m.load_state_dict(sd).unexpected_keys == []
    assert calls == ['pre', 'post', 'load_pre']


def test_extra_state():
    class S(nn.Module):
        def __init__(self):
            super().__init__()
            self.v = 1

        def get_extra_state(self):
            return {'v': self.v}

        def set_extra_state(self, state):
            self.v = state['v']
    a, b = S(), S()
    a.v = 7
    sd = a.state_dict()
    assert sd['_extra_state'] == {'v': 7}
    b.load_state_dict(sd)
    assert b.v == 7


def test_call_runs_forward_and_missing_forward():
    class M(nn.Module):
        def forward(self, a, b=2):
            return a * b
    assert M()(3, b=4) == 12
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        nn.Module()(1)


def test_deepcopy_and_pickle_module():
    m = _net(nn, ember)
    c = copy.deepcopy(m)
    assert c.stem[0].weight is not m.stem[0].weight
    assert np.array_equal(c.stem[0].weight.detach().numpy(), m.stem[0].weight.detach().numpy())
    p = pickle.loads(pickle.dumps(nn.Sequential(nn.Linear(2, 2), nn.ReLU())))
    assert isinstance(p[0].weight, nn.Parameter) and p(ember.ones(1, 2)).shape == (1, 2)


# ---- containers ------------------------------------------------------------------------------------------------

def test_sequential():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sl = s[1:]
    assert isinstance(sl, nn.Sequential) and list(sl) == [b, c] and list(sl._modules) == ['1', '2']
    s2 = nn.Sequential(OrderedDict([('fc', a), ('act', b)]))
    assert s2.fc is a and list(s2._modules) == ['fc', 'act']
    s.append(nn.Sigmoid())
    assert len(s) == 4
    s.insert(1, nn.Tanh())
    assert isinstance(s[1], nn.Tanh) and s[2] is b
    popped = s.pop(1)
    assert isinstance(popped, nn.Tanh) and list(s._modules) == ['0', '1', '2', '3']
    s.extend([nn.Identity()])
    assert len(s) == 5
    del s[-1]
    assert len(s) == 4
    s[3] = nn.Tanh()
    assert isinstance(s[3], nn.Tanh)
    with pytest.raises(IndexError):
        s[10]
    y = nn.Sequential(a, b, c)(ember.ones(4, 2))
    assert y.shape == (4, 1)
    assert len(nn.Sequential(a) + nn.Sequential(b, c)) == 3
    assert len(nn.Sequential(a) * 3) == 3


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(ml) == 3 and isinstance(ml[1:], nn.ModuleList) and len(ml[1:]) == 2
    ml.append(nn.ReLU())
    ml.insert(0, nn.Tanh())
    assert isinstance(ml[0], nn.Tanh) and isinstance(ml[4], nn.ReLU)
    ml += [nn.Identity()]
    assert len(ml) == 6
    del ml[0]
    assert list(ml._modules) == [str(i) for i in range(5)]
    with pytest.raises(TypeError):
        ml.extend(3)
    assert len(list(ml.parameters())) == 6
    md = nn.ModuleDict({'a': nn.Linear(1, 1)})
    md['b'] = nn.ReLU()
    md.update([('c', nn.Tanh())])
    assert list(md.keys()) == ['a', 'b', 'c'] and 'b' in md and len(md) == 3
    assert isinstance(md.pop('b'), nn.ReLU) and list(md) == ['a', 'c']
    with pytest.raises(ValueError):
        md.update([('x',)])


def test_parameter_list_and_dict():
    pl = nn.ParameterList([ember.zeros(2), nn.Parameter(ember.ones(3))])
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(pl) == 2
    pl.append(ember.zeros(1))
    assert [n for n, _ in pl.named_parameters()] == ['0', '1', '2']
    assert pl[-1].shape == (1,)
    pd = nn.ParameterDict({'a': ember.zeros(1)})
    pd['b'] = nn.Parameter(ember.ones(2))
    assert list(pd.keys()) == ['a', 'b'] and isinstance(pd['a'], nn.Parameter)
    assert [n for n, _ in pd.named_parameters()] == ['a', 'b']
    assert pd.pop('a').shape == (1,) and 'a' not in pd
    with pytest.raises(TypeError):
        pd[1] = ember.zeros(1)


@needs_torch
def test_container_reprs_match_pytorch():
    def build(fw, nn_):
        return nn_.Sequential(
            nn_.ModuleList([nn_.Linear(2, 2), nn_.Linear(2, 2), nn_.ReLU(), nn_.Linear(2, 2)]),
            nn_.ParameterList([nn_.Parameter(fw.zeros(2, 3))]),
            nn_.ParameterDict({'k': nn_.Parameter(fw.zeros(4))}),
            nn_.ModuleList(),
            nn_.ModuleDict({'x': nn_.Sequential(nn_.Identity(), nn_.Softmax(dim=1))}))
    assert repr(build(ember, nn)) == repr(build(torch, torch.nn))


# ---- nn.utils ---------------------------------------------------------------------------------------------------

def _grads_pair(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    vals = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) * 3 for s in shapes]
    ep = [nn.Parameter(ember.tensor(v)) for v in vals]
    for p, g in zip(ep, grads):
        p.grad = ember.tensor(g)
    tp = None
    if torch is not None:
        tp = [torch.nn.Parameter(torch.tensor(v)) for v in vals]
        for p, g in zip(tp, grads):
            p.grad = torch.tensor(g)
    return ep, tp


@needs_torch
@pytest.mark.parametrize('norm_type', [2.0, 1, float('inf'), 3.0])
@pytest.mark.parametrize('max_norm', [0.5, 1e6])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm):
    ep, tp = _grads_pair()
    te = nn.utils.clip_grad_norm_(ep, max_norm, norm_type=norm_type)
    tt = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    assert isinstance(te, ember.Tensor) and te.ndim == 0 and te.dtype == ember.float32
    assert te.item() == pytest.approx(tt.item(), rel=1e-6)
    for a, b in zip(ep, tp):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(ember.ones(3))
    assert nn.utils.clip_grad_norm_([p], 1.0).item() == 0.0   # no gradients: a zero norm, nothing clipped
    p.grad = ember.tensor([float('inf'), 1.0, 1.0])
    with pytest.raises(RuntimeError, match='non-finite'):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    q = nn.Parameter(ember.ones(2))
    q.grad = ember.tensor([3.0, 4.0])
    assert nn.utils.clip_grad_norm_(q, 10.0, foreach=True).item() == pytest.approx(5.0)
    np.testing.assert_allclose(q.grad.numpy(), [3.0, 4.0])
    nn.utils.clip_grad_norm_(iter([q]), 1.0)
    assert np.linalg.norm(q.grad.numpy()) == pytest.approx(1.0, rel=1e-5)


@needs_torch
def test_clip_grad_value_and_vector_conversion():
    ep, tp = _grads_pair(1)
    nn.utils.clip_grad_value_(ep, 0.7)
    torch.nn.utils.clip_grad_value_(tp, 0.7)
    for a, b in zip(ep, tp):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    ve = nn.utils.parameters_to_vector(ep)
    vt = torch.nn.utils.parameters_to_vector(tp)
    np.testing.assert_array_equal(ve.detach().numpy(), vt.detach().numpy())
    ve.sum().backward()    # differentiable
    nn.utils.vector_to_parameters(ember.arange(ve.numel(), dtype=ember.float32), ep)
    assert ep[0].shape == (3, 4) and ep[1][0].item() == 12.0 and isinstance(ep[0], nn.Parameter)
    with pytest.raises(TypeError, match='expected ember.Tensor'):
        nn.utils.vector_to_parameters([1, 2], ep)


def test_typename_and_registration_name_errors_match_torch():
    torch = pytest.importorskip('torch')
    for e, t in [(ember.zeros(2), torch.zeros(2)), (ember.zeros(2, dtype=ember.int64), torch.zeros(2, dtype=torch.int64)),
                 (3, 3), ('a', 'a')]:
        assert ember.typename(e) == torch.typename(t)
    assert ember.typename(ember.nn.Linear(1, 1)) == 'ember.nn.modules.linear.Linear'
    em, tm = ember.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    for method in ('register_buffer', 'register_parameter', 'add_module'):
        for name in (3, 'a.b', '', 'bias'):
            if method == 'register_parameter' and name == 'bias':
                continue  # re-registering a parameter's own name is allowed
            with pytest.raises(Exception) as te:
                getattr(tm, method)(name, None)
            with pytest.raises(type(te.value)) as ee:
                getattr(em, method)(name, None)
            assert str(ee.value) == str(te.value)
