"""Fused CUDA kernels: NumPy references and routing glue (any machine), NVRTC compile, GPU against references."""
import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.backends import cuda_kernels as K
from ember.ops import class_loss as CL, nn_ops

from _cuda_common import _nvrtc, needs_cuda, _close


# ==== fused kernels: the NumPy references and the glue (any machine) =================================================

class _FakeCuda:
    """A stand-in cuda device whose array module is NumPy: the counter RNG then runs its NumPy reference."""
    type, index, xp = 'cuda', 0, np


def test_counter_rng_reference_statistics_and_replay():
    from ember.backends.random import CudaGenerator
    g = CudaGenerator(_FakeCuda(), 123)
    u = g.random(200000)
    assert u.dtype == np.float64 and 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5e-3 and abs(u.var() * 12 - 1) < 2e-2
    u32 = g.random((500, 400), dtype=np.float32)
    assert u32.dtype == np.float32 and u32.max() < 1.0
    z = g.standard_normal(200000, dtype=np.float32)
    assert z.dtype == np.float32 and abs(z.mean()) < 1e-2 and abs(z.std() - 1) < 1e-2
    assert abs((np.abs(z) > 2).mean() - 0.0455) < 3e-3
    i = g.integers(-3, 4, size=70000)
    assert i.dtype == np.int64 and i.min() == -3 and i.max() == 3
    assert np.all(np.abs(np.bincount(i + 3) / 10000 - 1) < 0.06)
    p = g.permutation(50)
    assert sorted(p.tolist()) == list(range(50))
    # the state is (key, offset): replaying an offset replays the draw; another seed gives other numbers
    off = g.offset
    a = g.random(10)
    g.offset = off
    assert np.array_equal(a, g.random(10))
    assert not np.array_equal(a, CudaGenerator(_FakeCuda(), 124).random(10))
    assert abs(g.exponential(2.0, 100000).mean() - 2.0) < 0.05
    assert abs(g.geometric(0.25, 100000).mean() - 4.0) < 0.1


def test_cross_entropy_routes_to_the_kernels_with_their_calling_convention(monkeypatch):
    """With the fused route on, the glue calls the kernels' entry points (here stood in for by the cpu row functions,
    which take the same arguments) and gives the reference's values and gradients (tests/test_class_loss.py)."""
    calls = []
    monkeypatch.setattr(CL, 'fused', lambda dev: True)
    monkeypatch.setattr(K, 'supports', lambda *a: True)
    monkeypatch.setattr(K, 'softmax_xent_forward', lambda *a: calls.append('fwd') or CL.rows_forward(np, *a))
    monkeypatch.setattr(K, 'softmax_xent_backward', lambda *a: calls.append('bwd') or CL.rows_backward(np, *a))
    x = ember.tensor(np.random.default_rng(0).standard_normal((3, 4, 2)), requires_grad=True)
    t, w = ember.tensor([[0, 3], [-100, 1], [2, 2]]), ember.tensor([0.5, 1.0, 2.0, 1.5], dtype=ember.float64)
    for red in ('mean', 'none'):
        got = F.cross_entropy(x, t, w, reduction=red, label_smoothing=0.1)
        (gx,) = ember.autograd.grad(got.sum(), x)
        want = CL.reference(x, t, w, reduction=red, label_smoothing=0.1)
        _close(got, want, 1e-12, 1e-14)
        _close(gx, ember.autograd.grad(want.sum(), x)[0], 1e-12, 1e-14)
    assert calls == ['fwd', 'bwd'] * 2


@pytest.mark.parametrize('affine', [(True, True), (True, False), (False, False)])
def test_fused_layer_norm_glue(affine):
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    w = ember.tensor(rng.standard_normal(4) + 1, requires_grad=True) if affine[0] else None
    b = ember.tensor(rng.standard_normal(4), requires_grad=True) if affine[1] else None
    ins = tuple(t for t in (x, w, b) if t is not None)

    def fused_ln(*ts):
        return nn_ops.layer_norm_fused(ts[0], 1, ts[1] if w is not None else None,
                                       ts[-1] if b is not None else None, 1e-5)
    _close(fused_ln(*ins), F.layer_norm(x, (4,), w, b), 1e-10, 1e-12)
    assert ember.autograd.gradcheck(fused_ln, ins)
    assert ember.autograd.gradgradcheck(fused_ln, ins)


def test_fused_layer_norm_glue_two_trailing_dims():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((3, 2, 5)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((2, 5)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, c: nn_ops.layer_norm_fused(a, 2, c, None, 1e-5), (x, w))
    _close(nn_ops.layer_norm_fused(x, 2, w, None, 1e-5), F.layer_norm(x, (2, 5), w), 1e-10, 1e-12)


@pytest.mark.parametrize('approximate', ['none', 'tanh'])
def test_fused_gelu_glue(approximate):
    from ember.nn._functional.activation import _gelu_fused, _gelu_tanh_dt
    x = ember.tensor(np.linspace(-4, 4, 13), requires_grad=True)
    dt = _gelu_tanh_dt if approximate == 'tanh' else (
        lambda t: (nn_ops.erf(t * 0.7071067811865476) + 1.0) * 0.5 + t * (t * t * -0.5).exp() / math.sqrt(2 * math.pi))
    _close(_gelu_fused(x, approximate, dt), F.gelu(x, approximate=approximate), 1e-12, 1e-14)
    assert ember.autograd.gradcheck(lambda t: _gelu_fused(t, approximate, dt), (x,))
    assert ember.autograd.gradgradcheck(lambda t: _gelu_fused(t, approximate, dt), (x,))


def test_fused_relu_backward_glue():
    from ember.ops.elementwise import _relu_grad_fused
    x = ember.tensor([-1.0, 0.0, 2.0, 3.0])
    g = ember.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    out = _relu_grad_fused(g, ember.relu(x)._data)
    assert out.tolist() == [0.0, 0.0, 3.0, 4.0]
    out.sum().backward()
    assert g.grad.tolist() == [0.0, 0.0, 1.0, 1.0]


def _opt_problem(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in ((5, 3), (3,), (1,))], rng


@pytest.mark.parametrize('kw', [dict(momentum=0.0), dict(momentum=0.9), dict(momentum=0.9, nesterov=True),
                                dict(momentum=0.8, dampening=0.1, weight_decay=0.01),
                                dict(momentum=0.9, weight_decay=0.1, maximize=True)])
def test_fused_sgd_reference_matches_ember_sgd(kw):
    init, rng = _opt_problem()
    params = [ember.tensor(a.copy(), requires_grad=True) for a in init]
    opt = ember.optim.SGD(params, lr=0.1, **kw)
    mine = [a.copy() for a in init]
    bufs = [np.zeros_like(a) for a in init]  # preallocated, as the optimizer's state: `first` marks step 0
    for step in range(4):
        grads = [rng.standard_normal(a.shape) for a in init]
        for p, g in zip(params, grads):
            p.grad = ember.tensor(g)
        opt.step()
        bufs = K.fused_sgd_(mine, grads, bufs, lr=0.1, first=step == 0, **kw)
    for p, m in zip(params, mine):
        _close(p, m, 1e-12, 1e-14)


@pytest.mark.parametrize('cls,kw', [('Adam', {}), ('Adam', dict(weight_decay=0.1)), ('Adam', dict(amsgrad=True)),
                                    ('AdamW', dict(weight_decay=0.05)), ('AdamW', dict(amsgrad=True, maximize=True))])
def test_fused_adam_reference_matches_ember_adam(cls, kw):
    init, rng = _opt_problem(1)
    params = [ember.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(ember.optim, cls)(params, lr=0.01, **kw)
    mine = [a.copy() for a in init]
    m, v, vmax = ([np.zeros_like(a) for a in init] for _ in range(3))
    for step in range(1, 5):
        grads = [rng.standard_normal(a.shape) for a in init]
        for p, g in zip(params, grads):
            p.grad = ember.tensor(g)
        opt.step()
        K.fused_adam_(mine, grads, m, v, step, lr=0.01, weight_decay=kw.get('weight_decay', 0.01 if cls == 'AdamW'
                                                                             else 0.0),
                      decoupled=cls == 'AdamW', amsgrad=kw.get('amsgrad', False), max_exp_avg_sqs=vmax,
                      maximize=kw.get('maximize', False))
    for p, a in zip(params, mine):
        _close(p, a, 1e-10, 1e-12)


# a compile check of every kernel with NVRTC (needs CuPy's NVRTC, not a GPU): catches CUDA C errors on any machine
_CT = {'uint64': 'unsigned long long', 'int64': 'long long', 'bool': 'bool', 'float32': 'float', 'float64': 'double'}


def _harness(in_params, out_params, body, preamble, T):
    """CUDA C that binds the parameters as CuPy's ElementwiseKernel does and runs ``body`` per element."""
    decl, bind = [], []
    for spec, out in ([(p, False) for p in in_params.split(',')] + [(p, True) for p in out_params.split(',')]):
        typ, name = spec.split()
        c = 'T' if typ == 'T' else _CT[typ]
        if out or typ == 'T':
            decl.append(f'{"" if out else "const "}{c}* _raw_{name}')
            bind.append(f'{"" if out else "const "}{c}& {name} = _raw_{name}[i];')
        else:
            decl.append(f'const {c} {name}')
    head = '#include <cupy/carray.cuh>\n' + ('#include <cupy/float16.cuh>\n' if T == 'float16' else '')
    return (f'{head}typedef {T} T;\n{preamble}\nextern "C" __global__ void check({", ".join(decl)}, long long n) {{\n'
            f'  for (ptrdiff_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {{\n'
            f'    {" ".join(bind)}\n{body};\n  }}\n}}\n')


def test_fused_kernels_compile_with_nvrtc():
    build = _nvrtc()
    cases = [('T g, T y', 'T dx', 'dx = y > (T)0 ? g : (T)0', '')]
    for a in ('none', 'tanh'):
        cases += [('T x', 'T y', K._GELU_FWD[a], K._GELU_PRE), ('T g, T x', 'T dx', K._GELU_BWD[a], K._GELU_PRE)]
    cases += [('T g, ACT lr, ACT wd, bool maximize', 'T p', K._SGD_PLAIN, ''),
              ('T g, ACT lr, ACT wd, ACT momentum, ACT dampening, bool nesterov, bool first, bool maximize',
               'T p, T buf', K._SGD_BODY, ''),
              (K._ADAM_PARAMS, 'T p, T m, T v', K._ADAM_BODY.replace('AMS', 'AC vh = vi;'), ''),
              (K._ADAM_PARAMS, 'T p, T m, T v, T vmax',
               K._ADAM_BODY.replace('AMS', 'AC vh = max((AC)vmax, vi); vmax = (T)vh;'), '')]
    for T in ('float', 'double', 'float16'):
        ac, act = ('double', 'float64') if T == 'double' else ('float', 'float32')

        def sub(s):
            return s.replace('ACT', act).replace('AC', ac)
        for inp, out, body, pre in cases:
            try:
                build(_harness(sub(inp), sub(out), sub(body), sub(pre), T))
            except Exception as e:
                if T == 'float16' and 'cuda_fp16.h' in str(e):
                    continue  # CUDA's fp16 header is not installed here
                raise AssertionError(f'{body[:60]!r} for {T}:\n{e}') from None
    for ac in ('float', 'double'):
        for body in (K._UNIFORM[ac], K._NORMAL[ac]):
            build(_harness('uint64 key, uint64 base', 'T y', body, K._RNG_PREAMBLE, ac))
        for src in (K._XENT_FWD, K._XENT_BWD, K._LN_FWD, K._LN_BWD):
            build(K._typed(K._ROW_PREAMBLE + src, ac))
    build(_harness('uint64 key, uint64 base, int64 low, uint64 span', 'T y',
                   'y = (T)(low + (long long)__umul64hi(ember_draw(key, base + (unsigned long long)i), span));',
                   K._RNG_PREAMBLE, 'long long'))


# ---- fused kernels on the GPU against their NumPy references -------------------------------------------------------

@needs_cuda
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_fused_kernels_match_references(dtype):
    import cupy as cp
    rng = np.random.default_rng(0)
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)
    x = rng.standard_normal((37, 300)).astype(dtype)
    g = rng.standard_normal((37, 300)).astype(dtype)
    y = np.maximum(x, 0)
    _close(K.relu_backward(cp.asarray(g), cp.asarray(y)).get(), K.relu_backward(g, y), 0, 0)
    for a in ('none', 'tanh'):
        _close(K.gelu_forward(cp.asarray(x), a).get(), K.gelu_forward(x, a), **tol)
        _close(K.gelu_backward(cp.asarray(g), cp.asarray(x), a).get(), K.gelu_backward(g, x, a), **tol)
    for C in (3, 10, 300, 1000):
        xc = rng.standard_normal((41, C)).astype(dtype) * 3
        t = rng.integers(0, C, 41)
        t[5] = -100
        w = (rng.random(C) + 0.5).astype(dtype)
        for wt, eps in ((None, 0.0), (w, 0.1)):  # against the cpu path, whose arithmetic they share
            ref = CL.rows_forward(np, xc, t, wt, -100, eps)
            got = K.softmax_xent_forward(cp.asarray(xc), cp.asarray(t), None if wt is None else cp.asarray(wt),
                                         -100, eps)
            for r, q in zip(ref[:2], got[:2]):  # (what each saves for its backward differs)
                _close(q.get(), r, **tol)
            inf_at_ignored = rng.random(41).astype(dtype)
            inf_at_ignored[5] = np.inf  # (the mean's 1 / 0 when every target is ignored): that row's gradient is 0
            for scale in (np.array(0.5, dtype), rng.random(41).astype(dtype), inf_at_ignored):
                dr = CL.rows_backward(np, xc, t, ref[2], scale, wt, -100, eps)
                assert not dr[5].any()
                dg = K.softmax_xent_backward(cp.asarray(xc), cp.asarray(t), got[2], cp.asarray(scale),
                                             None if wt is None else cp.asarray(wt), -100, eps)
                _close(dg.get(), dr, **tol)
        t[0] = C  # an out-of-range target: a NaN row (PyTorch's cuda kernel asserts)
        loss, wv, lse = K.softmax_xent_forward(cp.asarray(xc), cp.asarray(t))
        d = K.softmax_xent_backward(cp.asarray(xc), cp.asarray(t), lse, cp.ones(1, dtype)).get()
        assert np.isnan(loss[0].get()) and np.isnan(wv[0].get()) and not np.isnan(loss[1:].get()).any()
        assert np.isnan(d[0]).all() and not np.isnan(d[1:]).any()
    for N in (4, 100, 1024, 3000):
        xl = rng.standard_normal((9, N)).astype(dtype)
        gl = rng.standard_normal((9, N)).astype(dtype)
        w, b = rng.standard_normal(N).astype(dtype), rng.standard_normal(N).astype(dtype)
        ref = K.layer_norm_forward(xl, w, b, 1e-5)
        got = K.layer_norm_forward(cp.asarray(xl), cp.asarray(w), cp.asarray(b), 1e-5)
        for r, q in zip(ref, got):
            _close(q.get(), r, **tol)
        rb = K.layer_norm_backward(gl, xl, ref[1], ref[2], w)
        gb = K.layer_norm_backward(cp.asarray(gl), cp.asarray(xl), got[1], got[2], cp.asarray(w))
        for r, q in zip(rb, gb):
            _close(q.get(), r, rtol=tol['rtol'] * 10, atol=tol['atol'] * 100)


@needs_cuda
def test_counter_rng_on_gpu_matches_reference_bits():
    import cupy as cp
    u, n = K.rng_uniform(77, 1000, (3, 5), np.float64)
    r, m = K.rng_uniform(77, 1000, (3, 5), np.float64, np)
    assert n == m == 15 and np.array_equal(u.get(), r)
    u, _ = K.rng_uniform(77, 5, 100, np.float32)
    assert np.array_equal(u.get(), K.rng_uniform(77, 5, 100, np.float32, np)[0])
    z, _ = K.rng_normal(3, 0, 1000, np.float64)
    _close(z.get(), K.rng_normal(3, 0, 1000, np.float64, np)[0], 1e-12, 1e-12)
    i, _ = K.rng_integers(3, 0, -5, 5, 50, np.int64)
    assert np.array_equal(i.get(), K.rng_integers(3, 0, -5, 5, 50, np.int64, np)[0])
    assert np.array_equal(K.rng_bits(1, 2, 9)[0].get(), K.rng_bits(1, 2, 9, np)[0])
    assert isinstance(u, cp.ndarray)


@needs_cuda
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_fused_optimizer_kernels_match_references(dtype):
    import cupy as cp
    rng = np.random.default_rng(4)
    shapes = [(300, 7), (7,), (1,)]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    p0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    for kw in (dict(momentum=0.9, nesterov=True, weight_decay=0.01), dict(momentum=0.0), dict(momentum=0.5,
                                                                                               dampening=0.2)):
        ph, pd = [a.copy() for a in p0], [cp.asarray(a) for a in p0]
        bh, bd = [None] * 3, [None] * 3
        for _ in range(3):
            gs = [rng.standard_normal(s).astype(dtype) for s in shapes]
            bh = K.fused_sgd_(ph, gs, bh, 0.05, **kw)
            bd = K.fused_sgd_(pd, [cp.asarray(x) for x in gs], bd, 0.05, **kw)
        for a, b in zip(pd, ph):
            _close(a.get(), b, **tol)
    for kw in (dict(), dict(weight_decay=0.1, decoupled=True, amsgrad=True), dict(weight_decay=0.1, maximize=True)):
        ph, pd = [a.copy() for a in p0], [cp.asarray(a) for a in p0]
        sh = [[np.zeros_like(a) for a in p0] for _ in range(3)]
        sd = [[cp.zeros_like(a) for a in pd] for _ in range(3)]
        for step in range(1, 4):
            gs = [rng.standard_normal(s).astype(dtype) for s in shapes]
            K.fused_adam_(ph, gs, sh[0], sh[1], step, 1e-2, max_exp_avg_sqs=sh[2], **kw)
            K.fused_adam_(pd, [cp.asarray(x) for x in gs], sd[0], sd[1], step, 1e-2, max_exp_avg_sqs=sd[2], **kw)
        for a, b in zip(pd, ph):
            _close(a.get(), b, **tol)
