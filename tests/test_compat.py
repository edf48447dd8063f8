"""PyTorch compatibility of the surface: printed text, grad_fn names, keyword names and out=, default device,
Variable, bfloat16, nn.modules paths, torch.__version__ under the alias."""
import inspect
import re
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

import ember
from conftest import torch, needs_torch


# ---- printed text -------------------------------------------------------------------------------------------------
def test_printed_names_are_torch_under_any_import_name():
    # one printed text whatever name ember was imported under (README: "Printed text")
    assert repr(ember.ones(2, 3).size()) == 'torch.Size([2, 3])'
    assert repr(ember.float32) == 'torch.float32' and str(ember.int64) == 'torch.int64'
    assert repr(ember.tensor([2., 2.], dtype=ember.float64)) == 'tensor([2., 2.], dtype=torch.float64)'
    assert repr(ember.zeros(0, 3, dtype=ember.int64)) == 'tensor([], size=(0, 3), dtype=torch.int64)'
    assert ember.ones(2, dtype=ember.int32).type() == 'torch.IntTensor'
    assert repr(ember.ones(2, 3).max(1)) == ('torch.return_types.max(\nvalues=tensor([1., 1.]),\n'
                                             'indices=tensor([0, 0]))')
    assert repr(ember.get_default_dtype()) == 'torch.float32'


PRINTED = ['T.ones(2, 3).size()', 'T.float32', 'T.int64', 'T.tensor([2., 2.], dtype=T.float64)',
           'T.ones(2, 3).shape', 'T.Size([1, 2])', 'T.zeros(0, 3, dtype=T.int64)', 'T.ones(2, dtype=T.int32).type()',
           'T.ones(2, 3).max(1)', 'T.tensor([3., 1., 2.]).sort()', 'T.tensor([1., 2.]).topk(1)',
           'T.ones(2, requires_grad=True) * 2', 'T.tensor([1.5], dtype=T.float16)', 'T.get_default_dtype()',
           'T.tensor([1.0, 2.5, 3.3], dtype=T.bfloat16)', 'T.bfloat16', 'T.nn.Linear(2, 3)',
           'T.ones(1).bfloat16().dtype', 'T.nn.functional.mse_loss(T.ones(2, requires_grad=True), T.zeros(2))']


@needs_torch
@pytest.mark.parametrize('expr', PRINTED)
def test_printed_text_matches_torch(expr):
    assert repr(eval(expr, {'T': ember})) == repr(eval(expr, {'T': torch}))


SCRIPT = '''
import torch
import torch.nn as nn
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
x, y = torch.ones(5, 3), torch.zeros(5, 1)
loss = nn.MSELoss()(model(x), y)
fn, names = loss.grad_fn, []
while fn is not None:
    names.append(fn.name())
    nxt = [f for f, _ in fn.next_functions if f is not None and not f.name().endswith('AccumulateGrad')]
    fn = nxt[0] if nxt else None
print(names[:4])  # (PyTorch's linear continues with a TBackward0 node for the weight; ember's does not)
print(torch.ones(2, 3).size(), torch.float32, torch.tensor([2., 2.], dtype=torch.float64))
print(loss.grad_fn, type(loss.grad_fn).__name__ if False else '')
print(torch.tensor([1, 2]).dtype, x.shape, torch.__version__ >= '2.0')
'''


@needs_torch
def test_ember_run_prints_what_pytorch_prints(tmp_path):
    script = tmp_path / 'tut.py'
    script.write_text(SCRIPT)
    want = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    got = subprocess.run([sys.executable, '-m', 'ember', 'run', str(script)], capture_output=True, text=True,
                         timeout=300)
    assert got.returncode == 0, got.stderr
    strip = lambda s: re.sub(r' object at 0x[0-9a-f]+', '', s)  # noqa: E731
    assert strip(got.stdout) == strip(want.stdout)
    assert "['MseLossBackward0', 'AddmmBackward0', 'ReluBackward0', 'AddmmBackward0']" in got.stdout


# ---- grad_fn names ------------------------------------------------------------------------------------------------
GRAD_FN = """F.linear(x, w, b) | F.linear(x, w) | nn.MSELoss()(x, y) | F.mse_loss(x, y, reduction='none')
F.mse_loss(x, y, reduction='sum') | F.l1_loss(x, y) | F.smooth_l1_loss(x, y) | F.huber_loss(x, y)
F.cross_entropy(x, t) | F.nll_loss(x.log_softmax(1), t) | F.binary_cross_entropy(x.sigmoid(), y.sigmoid().detach())
F.binary_cross_entropy_with_logits(x, y) | F.softmax(x, -1) | F.log_softmax(x, -1) | F.relu(x) | F.gelu(x)
F.silu(x) | F.elu(x) | F.celu(x) | F.leaky_relu(x) | F.glu(x) | F.prelu(x, b1[:1]) | F.layer_norm(x, (4,))
F.layer_norm(x, (4,), w1, b1) | F.group_norm(x4, 2) | F.group_norm(x4, 2, w1, b1)
F.batch_norm(x4, None, None, w1, b1, training=True) | F.instance_norm(x4) | F.dropout(x, 0.5)
F.conv2d(x4, k2) | F.max_pool2d(x4, 2) | F.avg_pool2d(x4, 2) | F.avg_pool1d(x3, 2) | F.max_pool1d(x3, 2)
F.adaptive_avg_pool2d(x4, 1) | F.adaptive_max_pool2d(x4, 2) | F.interpolate(x4, scale_factor=2)
F.interpolate(x4, scale_factor=2, mode='bilinear') | F.interpolate(x3, scale_factor=2, mode='linear')
F.pairwise_distance(x, y) | x @ w.t() | x.t() | x.T | x.sum() | x.mean(0) | x.var() | x.std(0)
T.var_mean(x)[0] | T.std_mean(x)[1] | x.norm() | x.norm(p=1) | x.norm(dim=0) | x.prod() | x.prod(0) | x.max()
x.max(0)[0] | x.sort(0)[0] | x.topk(2)[0] | x.kthvalue(1)[0] | x.median() | x.median(0)[0] | x[0] | x[:, 1]
x[0:1] | x[None] | x[..., 0] | x[0:1, 1] | x[:] | x[t] | x.split(1)[0] | x.split([1, 3], 1)[1] | x.chunk(2)[0]
x.unbind()[0] | x.tensor_split(2)[0] | x.masked_fill(x > 0, 0.) | x.masked_fill(x > 0, T.tensor(0.))
x.take(t) | x.roll(1) | x.squeeze() | x[None].squeeze(0) | x.diag() if False else T.diag(x[0]) | x.square()
T.addmm(b, x, w.t()) | x.mv(y[0]) | T.matmul(x3, w.t()) | T.matmul(x[0], w.t()) | T.matmul(x3, x3.mT)
T.lerp(x, y, 0.5) | T.addcmul(x, x, y) | T.addcdiv(x, x, y) | T.cdist(x, y) | x.reshape(-1) | x.view(-1)
x.permute(1, 0) | x.unsqueeze(0) | x.expand(2, 2, 4) | T.cat([x, y]) | T.stack([x, y]) | x.clamp(0, 1)
x.float() * 1 | x.to(T.float32) * 1 | x.cumsum(0) | T.where(x > 0, x, y) | F.cross_entropy(x, p)
F.cross_entropy(x, p, reduction='sum') | F.cross_entropy(x, p, reduction='none') | F.embedding(t, w)
F.cross_entropy(x, t, label_smoothing=0.1) | F.cross_entropy(x, t, label_smoothing=0.1, reduction='none')
F.pad(x4, (1, 1, 1, 1), mode='reflect') | F.pad(x3, (1, 1), mode='replicate') | F.pixel_shuffle(x4, 2)
x.index_select(0, t) | F.embedding_bag(T.tensor([[1, 0]]), w) | F.adaptive_avg_pool1d(x3, 2)"""


def _grad_fn_env(T):
    g = T.Generator().manual_seed(0)
    mk = lambda *s: T.randn(*s, generator=g, dtype=T.float64).requires_grad_()  # noqa: E731
    return dict(T=T, F=T.nn.functional, nn=T.nn, x=mk(2, 4), y=mk(2, 4), w=mk(3, 4), b=mk(3), w1=mk(4), b1=mk(4),
                t=T.tensor([1, 0]), x3=mk(2, 3, 4), x4=mk(2, 4, 4, 4), k2=mk(5, 4, 2, 2),
                p=T.randn(2, 4, generator=g, dtype=T.float64).softmax(-1))


@needs_torch
@pytest.mark.parametrize('expr', [e.strip() for e in GRAD_FN.replace('\n', '|').split('|')])
def test_grad_fn_name_matches_torch(expr):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        got = eval(expr, _grad_fn_env(ember)).grad_fn.name()
        want = eval(expr, _grad_fn_env(torch)).grad_fn.name()
    assert got == want


def test_renamed_nodes_keep_their_gradients():
    from ember.autograd import gradcheck
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    y = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    F = ember.nn.functional
    for fn in (lambda a, b: F.mse_loss(a, b), lambda a, b: F.mse_loss(a, b, reduction='none'),
               lambda a, b: F.mse_loss(a, b[:1], reduction='sum'), lambda a, b: a.t() @ b,
               lambda a, b: a[1] * b[:, 2:3],
               lambda a, b: a.var(0) + b.std(), lambda a, b: a.norm() * b.split(2, 1)[1].sum()):
        assert gradcheck(fn, (x, y))
    assert ember.autograd.gradgradcheck(lambda a, b: F.mse_loss(a, b), (x, y))
    assert F.mse_loss(x, y).grad_fn.name() == 'MseLossBackward0'
    assert F.dropout(x, 0.5, training=False) is x and x.grad_fn is None  # an input is never renamed


# ---- keyword names and out= ---------------------------------------------------------------------------------------
def _torch_overloads(fn, name):
    """PyTorch's parameter names per overload: [(positional, keyword-only)], from its signature or error text."""
    try:
        sig = inspect.signature(fn)
        return [([p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)],
                 [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY])]
    except (ValueError, TypeError):
        pass
    found = []

    def parse(arglist):
        pos, kwo, kwonly = [], [], False
        for part in re.split(r',\s*(?![^\[\(]*[\]\)])', arglist):
            part = part.strip()
            if part == '*':
                kwonly = True
                continue
            decl = part.split('=')[0].strip()
            nm = (decl.split(':')[0] if ':' in decl else (decl.split() or [''])[-1]).strip().replace('\\', '')
            if not re.match(r'^\*{0,2}\w+$', nm):
                continue
            if nm.startswith('*'):
                kwonly = True
                continue
            (kwo if kwonly else pos).append(nm)
        return pos, kwo
    for call in (lambda: fn(), lambda: fn(__bogus__=1), lambda: fn(*range(11))):
        try:
            call()
        except TypeError as e:
            msg = str(e)
            found += [parse(m) for m in re.findall(r'^\s*\* \((.*)\)\s*$', msg, re.M)]
            found += [parse(m) for m in re.findall(r'but expected \((.*)\)\s*$', msg)]
            if found:
                break
        except Exception:
            pass
    found += [parse(m) for m in re.findall(r'^\s*' + re.escape(name) + r'\((.*)\)\s*->', fn.__doc__ or '', re.M)]
    return found or None


# PyTorch keywords ember does not take yet (storage/layout options with no meaning on NumPy, and a few others):
# this list only shrinks
KNOWN_MISSING = {
    'top': {'addmm': ['out_dtype'], 'baddbmm': ['out_dtype'], 'asarray': ['copy', 'requires_grad'], 'bmm': ['out_dtype'],
            'from_dlpack': ['copy', 'device'], 'mm': ['out_dtype'], 'rand_like': ['generator', 'layout', 'pin_memory'],
            'randint_like': ['generator', 'layout', 'pin_memory'], 'randn_like': ['generator', 'layout', 'pin_memory'],
            'relu': ['inplace'], 'sparse_coo_tensor': ['pin_memory'], 'spmm': ['out_dtype']},
    'nnf': {},
}


def _missing_keywords(which):
    from ember._keywords import _parse, _TABLE
    table = _parse(_TABLE)
    tm, em = (torch, ember) if which == 'top' else (torch.nn.functional, ember.nn.functional)
    missing = {}
    for name in sorted(dir(em)):
        e = getattr(em, name, None)
        if name.startswith('_') or not callable(e) or isinstance(e, (type, types.ModuleType)):
            continue
        t = getattr(tm, name, None)
        if t is None or isinstance(t, type):
            continue
        ovs = _torch_overloads(t, name)
        if ovs is None and which == 'top' and hasattr(torch.nn.functional, name):
            ovs = _torch_overloads(getattr(torch.nn.functional, name), name)
        try:
            params = inspect.signature(e).parameters.values()
        except (TypeError, ValueError):
            continue
        if ovs is None or any(p.kind == p.VAR_KEYWORD for p in params):
            continue
        accepted = {p.name for p in params} | set(table.get(name, ({},))[0])
        wanted = {n for pos, kwo in ovs for n in pos + kwo if n != 'self'}
        gap = sorted(wanted - accepted)
        if gap:
            missing[name] = gap
    return missing


@needs_torch
@pytest.mark.parametrize('which', ['top', 'nnf'])
def test_keyword_names_match_torch(which):
    got = _missing_keywords(which)
    known = {k: v for k, v in KNOWN_MISSING[which].items() if v}
    assert got == known


def test_keywords_and_out():
    x = ember.tensor([[1., 2.], [3., 4.]])
    assert ember.matmul(input=x, other=x).tolist() == [[7., 10.], [15., 22.]]
    assert ember.add(x, x, alpha=2).tolist() == [[3., 6.], [9., 12.]]
    assert ember.add(input=x, other=1).tolist() == [[2., 3.], [4., 5.]]
    assert ember.sum(input=x, dim=0, keepdim=True, dtype=ember.float64).dtype is ember.float64
    assert ember.where(condition=x > 2, input=x, other=0.).tolist() == [[0., 0.], [3., 4.]]
    assert ember.pow(input=x, exponent=2)[1, 1].item() == 16.
    assert ember.swapaxes(x, axis0=0, axis1=1).tolist() == [[1., 3.], [2., 4.]]
    assert ember.max(x, other=ember.ones(2, 2) * 2.5).tolist() == [[2.5, 2.5], [3., 4.]]
    assert ember.split(tensor=x, split_size_or_sections=1)[1].tolist() == [[3., 4.]]
    buf = ember.empty(2, 2)
    v = buf._version
    assert ember.mul(x, x, out=buf) is buf and buf.tolist() == [[1., 4.], [9., 16.]] and buf._version > v
    empty = ember.empty(0)
    assert ember.mul(x, 2, out=empty) is empty and empty.shape == (2, 2)  # zero elements: resized silently
    wrong = ember.empty(3)
    with pytest.warns(UserWarning, match=r'resized since it had shape \[3\]'):
        ember.mul(x, x, out=wrong)
    assert wrong.shape == (2, 2)
    as_f64 = ember.empty(2, 2, dtype=ember.float64)
    ember.add(x, 1, out=as_f64)  # a float result into a wider float: cast
    assert as_f64.dtype is ember.float64 and as_f64[0, 0].item() == 2.
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        ember.mul(x, x, out=ember.empty(2, 2, dtype=ember.int64))
    ember.eq(x, 1., out=ember.empty(2, 2))  # bool into float is allowed
    with pytest.raises(RuntimeError, match=r"add\(\): functions with out=... arguments don't support automatic "
                                           r"differentiation"):
        ember.add(x.requires_grad_(), 1, out=ember.empty(2, 2))
    with ember.no_grad():
        assert ember.add(x, 1, out=ember.empty(2, 2))[0, 0].item() == 2.
    x.requires_grad_(False)
    vals, idx = ember.empty(0), ember.empty(0, dtype=ember.int64)
    r = ember.max(x, 1, out=(vals, idx))
    assert r.values is vals and r.indices is idx and vals.tolist() == [2., 4.] and idx.tolist() == [1, 1]
    view = ember.zeros(4)
    ember.add(x[0], 1, out=view[2:])  # writes through a view into its base
    assert view.tolist() == [0., 0., 2., 3.]
    z = ember.empty(3, dtype=ember.int64)
    assert ember.zeros(2, out=z) is z and z.tolist() == [0, 0]  # factories: out's dtype, resized silently
    with pytest.raises(RuntimeError, match=r'dtype Float does not match dtype of out parameter \(Long\)'):
        ember.zeros(2, dtype=ember.float32, out=z)
    assert ember.cat([x, x], out=ember.empty(0)).shape == (4, 2)
    assert 'out' in inspect.signature(ember.add).parameters and 'input' in inspect.signature(ember.add).parameters
    # empty, 0-dim, int and non-contiguous operands go through out= as well
    assert ember.neg(ember.tensor(3), out=ember.empty(0, dtype=ember.int64)).item() == -3
    assert ember.add(ember.zeros(0, 2), 1, out=ember.empty(5)).shape == (0, 2)
    nc = ember.arange(6.).reshape(2, 3).t()
    assert ember.mul(nc, 1, out=ember.empty(0)).tolist() == nc.tolist()


@needs_torch
def test_out_semantics_match_torch():
    cases = [('mul', lambda T: (T.ones(2, 3), T.ones(2, 3)), lambda T: T.empty(0)),
             ('add', lambda T: (T.ones(2, dtype=T.int64), 2), lambda T: T.empty(2)),
             ('eq', lambda T: (T.ones(2), 1), lambda T: T.empty(2)),
             ('sum', lambda T: (T.ones(2, 3), 0), lambda T: T.empty(3, dtype=T.int64)),
             ('matmul', lambda T: (T.ones(2, 3), T.ones(3)), lambda T: T.empty(0)),
             ('arange', lambda T: (4,), lambda T: T.empty(4, dtype=T.float64))]
    for name, args, out in cases:
        res = []
        for T in (ember, torch):
            o = out(T)
            r = getattr(T, name)(*args(T), out=o)
            res.append((r is o, str(o.dtype), list(o.shape), o.tolist()))
        assert res[0] == res[1], name


# ---- default device, Variable, bfloat16, module paths, is_xpu, size=, version -------------------------------------
def test_default_device():
    assert ember.get_default_device() == ember.device('cpu')
    ember.set_default_device('cpu')
    try:
        assert ember.zeros(1).device.type == 'cpu' and ember.tensor([1]).device.type == 'cpu'
    finally:
        ember.set_default_device(None)
    if not ember.cuda.is_available():
        with pytest.raises(RuntimeError, match='cuda'):
            ember.set_default_device('cuda')
        assert ember.get_default_device().type == 'cpu'  # unchanged after the refusal
    else:
        ember.set_default_device('cuda')
        try:
            assert ember.zeros(1).device.type == 'cuda' and ember.randn(2).device.type == 'cuda'
            assert ember.from_numpy(np.zeros(1)).device.type == 'cpu'
        finally:
            ember.set_default_device(None)


def test_variable():
    from ember.autograd import Variable
    t = ember.ones(2)
    v = Variable(t)
    assert isinstance(v, ember.Tensor) and v is not t and not v.requires_grad
    v.add_(1)
    assert t.tolist() == [2., 2.]  # shares t's data
    w = Variable(t, requires_grad=True)
    assert w.requires_grad and w.is_leaf and not t.requires_grad
    z = ember.ones(2, requires_grad=True) * 2
    assert Variable(z).grad_fn is None
    assert isinstance(t, Variable) and not isinstance(3, Variable)
    assert Variable().shape == (0,)
    with pytest.raises(TypeError, match='Variable data has to be a tensor, but got list'):
        Variable([1, 2])
    with pytest.warns(UserWarning, match='volatile was removed'):
        Variable(t, volatile=True)
    from ember.autograd.variable import Variable as V2  # the old import path
    assert V2 is Variable


def test_bfloat16_native():
    import ml_dtypes
    b = ember.tensor([1.0, 2.5, 3.3], dtype=ember.bfloat16)
    assert b.dtype is ember.bfloat16 and b._data.dtype == ml_dtypes.bfloat16 and b.dtype.itemsize == 2
    assert b.is_floating_point() and b.dtype.is_floating_point and b.dtype.is_signed
    assert repr(b) == 'tensor([1.0000, 2.5000, 3.2969], dtype=torch.bfloat16)'
    assert b.float().dtype is ember.float32 and b.float().tolist() == [1.0, 2.5, 3.296875]
    assert ember.ones(2).bfloat16().dtype is ember.bfloat16 and ember.ones(2).to(ember.bfloat16).dtype is ember.bfloat16
    assert (b + b).dtype is ember.bfloat16 and (b * 2).dtype is ember.bfloat16 and (b @ b).dtype is ember.bfloat16
    assert (b + ember.ones(3)).dtype is ember.float32  # promotes as PyTorch
    assert (b + ember.ones(3, dtype=ember.float16)).dtype is ember.float32
    assert (b + ember.ones(3, dtype=ember.int64)).dtype is ember.bfloat16
    assert b.type() == 'torch.BFloat16Tensor' and b[0].item() == 1.0
    assert ember.zeros(0, dtype=ember.bfloat16).shape == (0,) and ember.tensor(3.3, dtype=ember.bfloat16).ndim == 0
    x = ember.tensor([1.1, 2.2], dtype=ember.bfloat16, requires_grad=True)
    (x * x + x / 3).sum().backward()
    assert x.grad.dtype is ember.bfloat16
    lin = ember.nn.Linear(3, 2).to(ember.bfloat16)
    out = lin(ember.ones(4, 3, dtype=ember.bfloat16))
    out.sum().backward()
    assert out.dtype is ember.bfloat16 and lin.weight.grad.dtype is ember.bfloat16
    assert {'bf16': ember.bfloat16}['bf16'] is ember.bfloat16  # nanoGPT names it in a dict


@needs_torch
def test_bfloat16_matches_torch():
    exprs = ['T.tensor([1.1, 2.2, -3.3], dtype=T.bfloat16) + T.tensor([0.7, 1e3, 1e-3], dtype=T.bfloat16)',
             'T.tensor([1.1, 2.2, -3.3], dtype=T.bfloat16) * T.tensor([0.7, 1e3, 1e-3], dtype=T.bfloat16)',
             'T.tensor([1.1, 2.2, -3.3], dtype=T.bfloat16) / T.tensor([0.7, 3., 7.], dtype=T.bfloat16)',
             'T.tensor([1.1, 2.2], dtype=T.bfloat16) - 1', 'T.tensor([1.1, 2.2], dtype=T.bfloat16) / 3',
             'T.tensor([[1.1, 2.2], [0.3, 4.]], dtype=T.bfloat16) @ T.tensor([[1.7, 2.9], [5., 0.1]], '
             'dtype=T.bfloat16)',
             'T.tensor([1.1, 2.2], dtype=T.bfloat16).exp()', 'T.tensor([1.1, -2.2], dtype=T.bfloat16).relu()',
             'T.tensor([1.1, 2.2], dtype=T.bfloat16).sum()', 'T.tensor([1.1, 2.2], dtype=T.bfloat16).mean()',
             'T.tensor([1e10, 1e-5, 1e3], dtype=T.bfloat16)', 'T.arange(3, dtype=T.bfloat16)',
             'T.tensor([1.1, 2.2], dtype=T.bfloat16) + T.tensor([1, 2])', 'T.full((2,), 1.7, dtype=T.bfloat16)',
             'T.tensor([1.1, 2.2], dtype=T.bfloat16) > 1', 'T.tensor([1.1, 2.2], dtype=T.bfloat16).to(T.int64)']
    for e in exprs:
        assert repr(eval(e, {'T': ember})) == repr(eval(e, {'T': torch})), e
    a = np.random.default_rng(0).standard_normal(1000).astype(np.float32) * 10.0 ** np.arange(-5, 5).repeat(100)
    mine = ember.tensor(a).bfloat16().float().numpy()
    got = torch.tensor(a).bfloat16().float().numpy()
    assert np.array_equal(mine, got)  # rounding to bfloat16: nearest-even, identical bits


def test_nn_modules_paths():
    from ember.nn.modules.activation import MultiheadAttention
    from ember.nn.modules.batchnorm import BatchNorm2d, _BatchNorm
    from ember.nn.modules.instancenorm import InstanceNorm1d
    from ember.nn.modules.pixelshuffle import PixelShuffle
    from ember.nn.modules.distance import PairwiseDistance, CosineSimilarity
    from ember.nn.modules.utils import _pair, _single, _triple
    from ember.nn.modules.linear import Linear
    from ember.nn.modules.module import Module
    assert MultiheadAttention is ember.nn.MultiheadAttention and BatchNorm2d is ember.nn.BatchNorm2d
    assert issubclass(BatchNorm2d, _BatchNorm) and InstanceNorm1d is ember.nn.InstanceNorm1d
    assert PixelShuffle is ember.nn.PixelShuffle and Linear is ember.nn.Linear and Module is ember.nn.Module
    assert _pair(3) == (3, 3) and _pair((1, 2)) == (1, 2) and _single(2) == (2,) and _triple(1) == (1, 1, 1)
    assert ember.nn.utils.clip_grad_norm_ is not None  # nn.utils is still the real one
    x1, x2 = ember.tensor([[1., 2.], [0., 1.]]), ember.tensor([[1., 0.], [0., 2.]])
    assert np.allclose(PairwiseDistance()(x1, x2).numpy(), ember.nn.functional.pairwise_distance(x1, x2).numpy())
    assert np.allclose(CosineSimilarity(dim=1)(x1, x2).numpy(), ember.nn.functional.cosine_similarity(x1, x2).numpy())


@needs_torch
def test_nn_modules_paths_cover_torchs():
    import importlib
    import pkgutil
    # the files whose classes ember has (adaptive, channelshuffle, lazy and linear_cross_entropy* hold only layers
    # ember lacks)
    lacking = {'adaptive', 'channelshuffle', 'lazy', 'linear_cross_entropy', 'linear_cross_entropy_options'}
    for info in pkgutil.iter_modules(torch.nn.modules.__path__):
        if info.name.startswith('_') or info.name in lacking:
            continue
        tmod = importlib.import_module('torch.nn.modules.' + info.name)
        emod = importlib.import_module('ember.nn.modules.' + info.name)
        for cls, obj in vars(tmod).items():
            if isinstance(obj, type) and obj.__module__ == tmod.__name__ and hasattr(ember.nn, cls) \
                    and not cls.startswith('_'):
                assert getattr(emod, cls) is getattr(ember.nn, cls), (info.name, cls)


def test_is_xpu_and_size_keyword():
    x = ember.ones(2)
    assert x.is_xpu is False and x.is_cpu
    assert not (x.is_mps or x.is_meta or x.is_quantized or x.is_nested or x.is_sparse_csr)
    assert repr(x.layout) == 'torch.strided' and x.layout == ember.strided and ember.strided == 'strided'
    for f in (ember.empty, ember.zeros, ember.ones, ember.rand, ember.randn):
        assert f(size=(2, 3)).shape == (2, 3) and f(size=[4]).shape == (4,) and f(2, 3).shape == (2, 3)
        with pytest.raises(TypeError, match="got multiple values for argument 'size'"):
            f(2, size=(3,))
    with pytest.raises(TypeError, match='missing 1 required positional arguments: "size"'):
        ember.empty()
    assert ember.full(size=(2,), fill_value=3).tolist() == [3, 3]
    assert ember.randint(0, 5, size=(2,)).shape == (2,)
    assert ember.empty(size=(0, 2)).shape == (0, 2) and ember.zeros(size=()).ndim == 0
    x = ember.ones(2, dtype=ember.float64)
    assert x.new_zeros(size=(2, 3)).shape == (2, 3) and x.new_ones(size=[1]).dtype is ember.float64
    assert x.new_empty(size=(0,)).shape == (0,) and x.new_full(size=(2,), fill_value=3.).tolist() == [3., 3.]
    assert x.new_full((2,), fill_value=4.).tolist() == [4., 4.] and x.new_zeros(2, 3).shape == (2, 3)
    with pytest.raises(TypeError, match="got multiple values for argument 'size'"):
        x.new_zeros(2, size=(3,))


def test_version_under_the_alias():
    from ember._alias import TorchVersion, torch_module
    assert ember.__version__ == '0.1.0'
    v = torch_module().__version__
    assert isinstance(v, TorchVersion) and isinstance(v, str) and v == '2.13.0'
    assert v > '2.9' and v >= '2.13' and v < '3' and v > (2, 1) and v != '2.12.0' and v > '2.13.0rc1'
    assert v.split('.')[0] == '2'
    from packaging.version import Version
    assert Version(v) > Version('2.0') and v >= Version('2.13')
    tm = torch_module()
    assert tm.Tensor is ember.Tensor and tm.nn is ember.nn and tm.__name__ == 'ember'
    assert tm.version.__version__ == v and tm.version.cuda is None and tm.version.hip is None


def test_version_in_torch_scripts(tmp_path):
    script = tmp_path / 'v.py'
    script.write_text('import torch, ember\nfrom packaging import version\n'
                      'print(torch.__version__, ember.__version__, version.parse(torch.__version__) >= '
                      'version.parse("2.0"), torch.__version__ >= "2.1.0", torch.ones(1).is_xpu)\n'
                      'torch.some_flag = 3\nprint(ember.some_flag)\n')
    res = subprocess.run([sys.executable, '-m', 'ember', 'run', str(script)], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split('\n')[:2] == ['2.13.0 0.1.0 True True False', '3']


@pytest.mark.parametrize('name', ['float32', 'float16', 'float64', 'bfloat16'])
def test_finfo(name):
    f = ember.finfo(getattr(ember, name))
    assert f.dtype == name and isinstance(f.eps, float) and f.min == -f.max and f.tiny == f.smallest_normal
    assert ember.finfo().dtype == 'float32' and ember.iinfo(ember.int32).max == 2 ** 31 - 1
    assert ember.iinfo(ember.uint8).min == 0 and ember.iinfo(ember.int64).min == -2 ** 63
    with pytest.raises(TypeError, match='requires a floating point input type'):
        ember.finfo(ember.int32)
    with pytest.raises(TypeError, match='requires an integer input type'):
        ember.iinfo(ember.float32)
    if torch is not None:
        t = torch.finfo(getattr(torch, name))
        assert repr(f) == repr(t) and (f.bits, f.eps, f.max, f.tiny, f.resolution) == (
            t.bits, t.eps, t.max, t.tiny, t.resolution)
        assert repr(ember.iinfo(ember.int16)) == repr(torch.iinfo(torch.int16))
