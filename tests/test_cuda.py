"""Device 'cuda' (CuPy): ops, autograd, layers, optimizers against cpu; fused kernels against NumPy references."""
# Two kinds of tests live here:
#  - GPU tests (marked ``needs_cuda``): skipped, with the reason, where CuPy or a GPU is missing;
#  - the fused kernels' NumPy references and the glue that routes ops to them, run on any machine (the cuda path's
#    arithmetic and bookkeeping get checked here without a GPU; the GPU tests then compare kernels to references).
# To parametrize a test over devices: ``@on_devices`` (a ``device`` argument of 'cpu' and, where there is a GPU,
# 'cuda'), or ``pytest.mark.parametrize('device', DEVICES)``.
import copy
import io
import math

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.backends import cuda_kernels as K
from ember.ops import nn_ops

HAS_CUDA = ember.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason='needs CuPy and a CUDA GPU (ember.cuda.is_available() is False)')
DEVICES = ['cpu', pytest.param('cuda', marks=needs_cuda)]
on_devices = pytest.mark.parametrize('device', DEVICES)


def _np(t):
    return t.detach().cpu().numpy()


def _close(a, b, rtol=1e-5, atol=1e-7, msg=''):
    np.testing.assert_allclose(_np(a) if isinstance(a, ember.Tensor) else a,
                               _np(b) if isinstance(b, ember.Tensor) else b, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=msg)


# ==== without a GPU: names, errors, the API's no-GPU answers ========================================================

def test_cuda_device_is_a_name_without_a_gpu():
    d = ember.device('cuda')
    assert d.type == 'cuda' and d.index == 0 and str(ember.device('cuda:1')) == 'cuda:1'
    assert ember.device('cuda:0') == 'cuda:0' and ember.device('cuda', 0) is ember.device('cuda:0')
    with pytest.raises(RuntimeError, match='device type'):
        ember.device('tpu')


@pytest.mark.skipif(HAS_CUDA, reason='checks the errors seen without a GPU')
def test_cuda_tensors_without_a_gpu_say_what_is_missing():
    for make in (lambda: ember.zeros(2, device='cuda'), lambda: ember.ones(2).cuda(),
                 lambda: ember.tensor([1.0], device='cuda'), lambda: ember.randn(3, device='cuda')):
        with pytest.raises(RuntimeError, match='cuda|CuPy'):
            make()
    assert ember.cuda.device_count() == 0 and not ember.cuda.is_available()
    ember.cuda.manual_seed(0)
    ember.cuda.manual_seed_all(0)
    ember.cuda.empty_cache()
    for fn in (ember.cuda.memory_allocated, ember.cuda.synchronize, ember.cuda.current_stream):
        with pytest.raises(RuntimeError):
            fn()


def test_device_helpers_route_numpy_to_numpy():
    from ember.backends import scatter_add, scatter_mul, host_cast, reshape_nocopy, checks_values, fused, cpu
    a = np.zeros(4)
    scatter_add(a, (np.array([1, 1, 3]),), np.array([1.0, 2.0, 5.0]))
    assert a.tolist() == [0, 3, 0, 5]
    b = np.ones(3)
    scatter_mul(b, (np.array([0, 0, 2]),), np.array([2.0, 3.0, 4.0]))
    assert b.tolist() == [6, 1, 4]
    assert host_cast(2.7, np.int64) == 2 and host_cast(True, np.float32) == 1.0
    x = np.arange(6).reshape(2, 3)
    assert reshape_nocopy(x, (3, 2)).base is not None
    with pytest.raises(ValueError):
        reshape_nocopy(x.T, (6,))
    assert checks_values(cpu) and not fused(cpu)


@on_devices
def test_a_small_graph_on_each_device(device):
    x = ember.tensor([[1.0, -2.0], [3.0, 0.5]], device=device, requires_grad=True)
    y = (F.gelu(x) * x.relu()).sum() + F.cross_entropy(x, ember.tensor([1, 0], device=device))
    y.backward()
    assert x.grad.device == ember.device(device) and y.device == ember.device(device)
    assert np.isfinite(_np(x.grad)).all()


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


def _xent_inputs(M=7, C=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, C))
    t = rng.integers(0, C, M)
    t[2] = -100
    w = rng.random(C) + 0.5
    return x, t, w


@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('eps', [0.0, 0.2])
@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
def test_fused_cross_entropy_glue_matches_the_generic_op(weighted, eps, reduction):
    x, t, w = _xent_inputs()
    xe = ember.tensor(x, requires_grad=True)
    te = ember.tensor(t)
    we = ember.tensor(w) if weighted else None
    ref = F.cross_entropy(xe, te, weight=we, reduction=reduction, label_smoothing=eps)
    xf = ember.tensor(x, requires_grad=True)
    got = nn_ops._class_loss_fused(xf, te, xf._data, te._data, we._data if weighted else None, -100, reduction, eps,
                                   'cross_entropy')
    _close(got, ref, 1e-10, 1e-12)
    gw = ember.tensor(np.cos(np.arange(got.numel()) + 0.5).reshape(tuple(got.shape)))
    (got * gw).sum().backward()
    (ref * gw).sum().backward()
    _close(xf.grad, xe.grad, 1e-9, 1e-12)


def test_fused_cross_entropy_glue_nd_input_and_create_graph():
    rng = np.random.default_rng(1)
    x = ember.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    t = ember.tensor(rng.integers(0, 4, (2, 3)))
    x2 = x._data.transpose(0, 2, 1).reshape(-1, 4)

    def fused_ce(inp):
        return nn_ops._class_loss_fused(inp, t, inp._data.transpose(0, 2, 1).reshape(-1, 4), t._data.reshape(-1),
                                        None, -100, 'mean', 0.1, 'cross_entropy')
    assert x2.shape == (6, 4)
    _close(fused_ce(x), F.cross_entropy(x, t, label_smoothing=0.1), 1e-10)
    assert ember.autograd.gradcheck(fused_ce, (x,))
    assert ember.autograd.gradgradcheck(fused_ce, (x,))


def test_xent_reference_marks_out_of_range_targets_nan():
    x, t, _ = _xent_inputs()
    t[0] = 9
    loss, wv, lse = K.softmax_xent_forward(x, t)
    assert np.isnan(loss[0]) and np.isnan(wv[0]) and not np.isnan(loss[1:]).any()
    d = K.softmax_xent_backward(x, t, lse, np.ones(1))
    assert np.isnan(d[0]).all() and not np.isnan(d[1:]).any()


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


def _nvrtc():
    cupy = pytest.importorskip('cupy')
    import os
    from cupy.cuda import compiler
    inc = [os.path.join(os.path.dirname(cupy.__file__), '_core', 'include')]
    try:
        import nvidia.cuda_runtime
        inc.append(os.path.join(list(nvidia.cuda_runtime.__path__)[0], 'include'))
    except ImportError:
        pass
    opts = ('--std=c++17',) + tuple('-I' + p for p in inc)
    if not HAS_CUDA:  # CuPy asks the GPU for its architecture: name one instead
        compiler._get_arch_for_options_for_nvrtc = lambda arch=None: ('-arch=compute_80', 'ptx')

    def build(src):
        return compiler._compile_using_nvrtc_no_warning(src, options=opts)
    try:
        build('extern "C" __global__ void k(float* y) { y[0] = erff(1.0f); }')
    except Exception as e:  # no NVRTC library, or a CuPy whose internals moved
        pytest.skip(f'NVRTC is not usable here: {str(e)[:200]}')
    return build


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


# ==== on a GPU ======================================================================================================

@needs_cuda
def test_creation_on_cuda():
    cu = ember.device('cuda')
    for t in (ember.zeros(2, 3, device='cuda'), ember.ones(2, device=cu), ember.full((2,), 3.0, device='cuda'),
              ember.empty(4, device='cuda'), ember.arange(5, device='cuda'), ember.linspace(0, 1, 5, device='cuda'),
              ember.eye(3, device='cuda'), ember.rand(3, device='cuda'), ember.randn(3, device='cuda'),
              ember.randint(0, 5, (4,), device='cuda'), ember.randperm(6, device='cuda'),
              ember.tensor([1, 2], device='cuda'), ember.zeros_like(ember.ones(2), device='cuda'),
              ember.logspace(0, 1, 3, device='cuda'), ember.normal(0.0, 1.0, (3,), device='cuda')):
        assert t.device == cu and t.is_cuda and not t.is_cpu
    assert ember.arange(5, device='cuda').tolist() == [0, 1, 2, 3, 4]
    assert sorted(ember.randperm(6, device='cuda').tolist()) == list(range(6))
    r = ember.rand(10000, device='cuda')
    assert r.dtype == ember.float32 and 0 <= r.min().item() and r.max().item() < 1
    assert abs(ember.randn(10000, device='cuda').mean().item()) < 0.05
    _close(ember.linspace(-2, 3, 7, device='cuda'), ember.linspace(-2, 3, 7))


@needs_cuda
def test_moves_between_devices():
    x = ember.randn(3, 4, dtype=ember.float64)
    c = x.cuda()
    assert c.is_cuda and c.device == ember.device('cuda:0') and c.dtype == ember.float64
    assert x.to('cuda').device.type == 'cuda' and x.to(ember.device('cuda'), ember.float32).dtype == ember.float32
    assert x.to('cuda', non_blocking=True).is_cuda and x.cuda(0).is_cuda
    assert c.to(x).device.type == 'cpu'
    _close(c.cpu(), x, 0, 0)
    assert c.cpu().is_cpu and c.to('cuda') is c
    # gradients flow back across the move
    x.requires_grad_()
    (x.cuda() * 2).sum().backward()
    assert x.grad.device.type == 'cpu' and x.grad.tolist() == [[2.0] * 4] * 3
    assert repr(c).startswith('tensor(') and "device='cuda:0'" in repr(c)
    assert c[0, 0].item() == x[0, 0].item() and c.tolist() == x.tolist()


@needs_cuda
def test_mixed_devices_and_numpy_errors():
    a, b = ember.ones(3), ember.ones(3, device='cuda')
    msg = 'Expected all tensors to be on the same device, but found at least two devices, cpu and cuda:0'
    for fn in (lambda: a + b, lambda: a * b, lambda: ember.cat([a, b]), lambda: a @ b, lambda: ember.where(a > 0, a, b),
               lambda: a.add_(b), lambda: F.linear(a, b.reshape(1, 3))):
        with pytest.raises(RuntimeError, match=msg):
            fn()
    with pytest.raises(TypeError, match=r'cpu\(\)'):
        b.numpy()
    with pytest.raises(RuntimeError):
        ember.ones(2, dtype=ember.int64, device='cuda').add_(1.5)


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
        for wt, eps in ((None, 0.0), (w, 0.1)):
            ref = K.softmax_xent_forward(xc, t, wt, -100, eps)
            got = K.softmax_xent_forward(cp.asarray(xc), cp.asarray(t), None if wt is None else cp.asarray(wt),
                                         -100, eps)
            for r, q in zip(ref, got):
                _close(q.get(), r, **tol)
            for scale in (np.array(0.5, dtype), rng.random(41).astype(dtype)):
                dr = K.softmax_xent_backward(xc, t, ref[2], scale, wt, -100, eps)
                dg = K.softmax_xent_backward(cp.asarray(xc), cp.asarray(t), got[2], cp.asarray(scale),
                                             None if wt is None else cp.asarray(wt), -100, eps)
                _close(dg.get(), dr, **tol)
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


# ---- the ember.cuda API ---------------------------------------------------------------------------------------------

@needs_cuda
def test_cuda_module_api():
    c = ember.cuda
    assert c.device_count() >= 1 and c.current_device() == 0 and c.is_initialized()
    assert isinstance(c.get_device_name(), str) and c.get_device_capability()[0] >= 3
    assert c.get_device_properties(0).total_memory > 0
    c.set_device(0)
    with c.device(0):
        assert c.current_device() == 0
    with c.device('cuda:0'):
        pass
    c.synchronize()
    c.reset_peak_memory_stats()
    base = c.memory_allocated()
    x = ember.empty(1 << 20, device='cuda')  # 4 MiB
    assert c.memory_allocated() >= base + 4 * 2**20 and c.max_memory_allocated() >= c.memory_allocated()
    peak = c.max_memory_allocated()
    del x
    assert c.max_memory_allocated() == peak and c.memory_allocated() < peak
    c.reset_peak_memory_stats()
    assert c.max_memory_allocated() < peak
    assert c.memory_reserved() >= c.memory_allocated()
    c.empty_cache()
    free, total = c.mem_get_info()
    assert 0 < free <= total
    start, end = c.Event(enable_timing=True), c.Event(enable_timing=True)
    start.record()
    y = ember.randn(512, 512, device='cuda') @ ember.randn(512, 512, device='cuda')
    end.record()
    end.synchronize()
    assert start.elapsed_time(end) >= 0 and end.query()
    s = c.Stream()
    with c.stream(s):
        z = y * 2
    s.synchronize()
    c.current_stream().wait_stream(s)
    _close(z, y * 2, 0, 0)
    assert c.default_stream() is not None and c.current_stream() == c.current_stream()


# ==== fused multi-tensor optimizer updates (ember/optim/_fused.py) and the host-sync fixes ============================
# Without a GPU: the optimizers run on a NumPy-backed stand-in 'cuda' device, so they take the fused route and the
# kernels run their NumPy emulation (same table, same block -> tensor walk); results are compared with PyTorch and
# with ember's cpu path. With a GPU: the CuPy kernels against the emulation, cuda optimizers against cpu ones, and
# steps checked for host syncs.

from conftest import torch as _torch, needs_torch  # noqa: E402
from ember._tensor import _wrap  # noqa: E402
from ember.optim import _fused as MT  # noqa: E402


class _NumpyCuda:
    """A device that says 'cuda' and computes with NumPy: the optimizers route to the fused kernels' emulation."""
    type, index, xp = 'cuda', 0, np

    def __repr__(self):
        return "device(type='cuda', index=0)"

    __str__ = __repr__


_FAKE = _NumpyCuda()


def _fake_params(arrays):
    ps = [_wrap(a.copy(), _FAKE) for a in arrays]
    for p in ps:
        p.requires_grad_(True)
    return ps


@pytest.fixture
def launches(monkeypatch):
    """Records (kernel kind, tensors in the table) of every multi-tensor launch."""
    seen = []
    real = MT._launch

    def spy(kind, rows, chunk, scalars, x6=None, x7=None):
        seen.append((kind, len(rows)))
        return real(kind, rows, chunk, scalars, x6, x7)
    monkeypatch.setattr(MT, '_launch', spy)
    return seen


_SHAPES = [(5, 3), (3,), (1,), (40, 30), (0,), (2, 2, 2)]

_FUSED_CASES = [('SGD', dict(lr=0.1)), ('SGD', dict(lr=0.1, weight_decay=0.1, maximize=True)),
                ('SGD', dict(lr=0.1, momentum=0.9)),
                ('SGD', dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
                ('SGD', dict(lr=0.05, momentum=0.8, dampening=0.1, maximize=True)),
                ('Adam', dict(lr=0.01)), ('Adam', dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
                ('Adam', dict(lr=0.01, maximize=True, betas=(0.8, 0.9), eps=1e-6)),
                ('AdamW', dict(lr=0.01)), ('AdamW', dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True))]


@needs_torch
@pytest.mark.parametrize('cls,kw', _FUSED_CASES)
def test_fused_optimizers_route_to_the_kernels_and_match_pytorch(cls, kw, launches):
    rng = np.random.default_rng(7)
    init = [rng.standard_normal(s) for s in _SHAPES]
    ps = _fake_params(init)
    tp = [_torch.tensor(a.copy(), requires_grad=True) for a in init]
    o, to = getattr(ember.optim, cls)(ps, **kw), getattr(_torch.optim, cls)(tp, **kw)
    for _ in range(4):
        for p, t, s in zip(ps, tp, _SHAPES):
            g = rng.standard_normal(s)
            p.grad, t.grad = _wrap(g.copy(), _FAKE), _torch.tensor(g)
        o.step()
        to.step()
    for p, t in zip(ps, tp):
        _close(p._data, t.detach().numpy(), 1e-12, 1e-14)
    kind = {'SGD': 'sgd_mom' if kw.get('momentum') else 'sgd'}.get(cls, 'adam_ams' if kw.get('amsgrad') else 'adam')
    assert launches == [(kind, len(_SHAPES))] * 4  # one launch per group and step
    for p, t in zip(ps, tp):  # the state PyTorch keeps, with the same values
        for name, val in to.state[t].items():
            mine = o.state[p][name]
            _close(mine._data, val.numpy(), 1e-12, 1e-14, msg=name)
            assert (mine._device is _FAKE) == (name != 'step'), name


@needs_torch
@pytest.mark.parametrize('cls,kw', [('SGD', dict(lr=0.1, momentum=0.9)), ('Adam', dict(lr=0.01, amsgrad=True)),
                                    ('AdamW', dict(lr=0.01))])
def test_fused_optimizers_with_params_at_different_steps(cls, kw, launches):
    # a parameter without a gradient is skipped, so its step count (and SGD's first-step flag) lags the others'
    rng = np.random.default_rng(8)
    init = [rng.standard_normal(s) for s in _SHAPES[:4]]
    ps = _fake_params(init)
    tp = [_torch.tensor(a.copy(), requires_grad=True) for a in init]
    groups = [dict(params=ps[:3]), dict(params=ps[3:], lr=0.02)]
    o = getattr(ember.optim, cls)(groups, **kw)
    to = getattr(_torch.optim, cls)([dict(params=tp[:3]), dict(params=tp[3:], lr=0.02)], **kw)
    for step in range(5):
        for i, (p, t) in enumerate(zip(ps, tp)):
            if i == 1 and step < 2:
                p.grad = t.grad = None
                continue
            g = rng.standard_normal(init[i].shape)
            p.grad, t.grad = _wrap(g.copy(), _FAKE), _torch.tensor(g)
        o.step()
        to.step()
    for p, t in zip(ps, tp):
        _close(p._data, t.detach().numpy(), 1e-12, 1e-14)
    assert len(launches) == 10 and all(n in (1, 2, 3) for _, n in launches)  # one per group and step


@pytest.mark.parametrize('cls,kw', [('SGD', dict(lr=0.1, momentum=0.9)), ('Adam', dict(lr=0.01))])
def test_fused_route_is_off_with_fused_false_or_the_env_knob(cls, kw, launches, monkeypatch):
    rng = np.random.default_rng(9)
    init = [rng.standard_normal(s) for s in _SHAPES[:3]]
    grads = [rng.standard_normal(s) for s in _SHAPES[:3]]
    results = []
    for fused, env in ((None, True), (False, True), (None, False), (True, False)):
        monkeypatch.setattr(ember.backends, 'CUDA_FUSED', env)
        launches.clear()
        ps = _fake_params(init)
        o = getattr(ember.optim, cls)(ps, fused=fused, **kw)
        for _ in range(2):
            for p, g in zip(ps, grads):
                p.grad = _wrap(g.copy(), _FAKE)
            o.step()
        assert bool(launches) == (fused is True or (fused is None and env)), (fused, env)
        results.append([p._data.copy() for p in ps])
    for r in results[1:]:  # the generic path and the fused one agree
        for a, b in zip(r, results[0]):
            _close(a, b, 1e-12, 1e-14)


@pytest.mark.parametrize('cls,kw', [('SGD', dict(lr=0.1, momentum=0.9)), ('Adam', dict(lr=0.01))])
def test_fused_route_with_a_duplicated_parameter_updates_it_twice_in_order(cls, kw, launches):
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    ga, gb = rng.standard_normal((4, 3)), rng.standard_normal(3)
    p, q = _fake_params([a, b])
    pc, qc = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    with pytest.warns(UserWarning, match='duplicate'):
        o = getattr(ember.optim, cls)([p, q, p], **kw)
    with pytest.warns(UserWarning, match='duplicate'):
        oc = getattr(ember.optim, cls)([pc, qc, pc], **kw)
    for _ in range(3):
        p.grad, q.grad = _wrap(ga.copy(), _FAKE), _wrap(gb.copy(), _FAKE)
        pc.grad, qc.grad = ember.tensor(ga), ember.tensor(gb)
        o.step()
        oc.step()
    _close(p._data, _np(pc), 1e-12, 1e-14)
    _close(q._data, _np(qc), 1e-12, 1e-14)
    assert len(launches) == 9 and all(n == 1 for _, n in launches)  # one tensor at a time


def _mt_problem(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    shapes = [(37,), (0,), (5, 3), (1,), (64,), (129, 3)]
    return rng, shapes, [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize('chunk', [1, 4, 7, 64, MT.CHUNK])
@pytest.mark.parametrize('kw', [dict(momentum=0.0, weight_decay=0.1), dict(momentum=0.9, nesterov=True),
                                dict(momentum=0.5, dampening=0.2, maximize=True, weight_decay=0.01)])
def test_multi_tensor_sgd_emulation_matches_per_parameter_reference(chunk, kw, launches):
    rng, shapes, init = _mt_problem(11)
    mine, ref = [a.copy() for a in init], [a.copy() for a in init]
    bm = br = None
    for step in range(3):
        gs = [rng.standard_normal(s) for s in shapes]
        first = [step == 0 or i == 2 and step == 1 for i in range(len(shapes))]  # tensor 2 restarts its buffer
        bm = MT.sgd_(mine, gs, bm, 0.1, first=first, chunk=chunk, **kw)
        br = K.fused_sgd_(ref, gs, br if br is not None else [np.zeros_like(a) for a in init], 0.1, first=first,
                          **kw)
    for a, b in zip(mine, ref):
        np.testing.assert_array_equal(a, b)
    assert launches == [('sgd_mom' if kw['momentum'] else 'sgd', len(shapes))] * 3


@pytest.mark.parametrize('chunk', [1, 5, 64, MT.CHUNK])
@pytest.mark.parametrize('kw', [dict(), dict(weight_decay=0.1, decoupled=True, amsgrad=True),
                                dict(weight_decay=0.1, maximize=True, amsgrad=True)])
def test_multi_tensor_adam_emulation_matches_per_parameter_reference(chunk, kw, launches):
    rng, shapes, init = _mt_problem(12)
    mine, ref = [a.copy() for a in init], [a.copy() for a in init]
    sm = [[np.zeros_like(a) for a in init] for _ in range(3)]
    sr = [[np.zeros_like(a) for a in init] for _ in range(3)]
    for step in range(1, 4):
        gs = [rng.standard_normal(s) for s in shapes]
        steps = [step + i % 3 for i in range(len(shapes))] if step > 1 else step  # per-tensor steps, then one
        MT.adam_(mine, gs, sm[0], sm[1], steps, 1e-2, max_exp_avg_sqs=sm[2], chunk=chunk, **kw)
        K.fused_adam_(ref, gs, sr[0], sr[1], steps, 1e-2, max_exp_avg_sqs=sr[2], **kw)
    for a, b in zip(mine + sum(sm, []), ref + sum(sr, [])):
        np.testing.assert_array_equal(a, b)
    assert [n for _, n in launches] == [len(shapes)] * 3


def test_multi_tensor_tables_leave_out_what_they_cannot_take(launches):
    rng = np.random.default_rng(13)
    arrs = [rng.standard_normal((6, 4)), rng.standard_normal((4, 6)), rng.standard_normal(5).astype(np.float16),
            rng.standard_normal(7).astype(np.float32), rng.standard_normal(3),
            rng.standard_normal(9).astype(np.float32), rng.standard_normal((3, 5))]
    grads = [rng.standard_normal(a.shape).astype(a.dtype) for a in arrs]
    grads[1] = grads[1].T
    grads[6] = rng.standard_normal((5, 3)).T  # a strided gradient: copied contiguous, stays in the table
    mine, ref = [a.copy() for a in arrs], [a.copy() for a in arrs]
    mine[1], ref[1] = mine[1].T, ref[1].T  # strided parameters
    assert not mine[1].flags.c_contiguous
    bm = MT.sgd_(mine, grads, None, 0.1, momentum=0.9)
    br = K.fused_sgd_(ref, grads, None, 0.1, momentum=0.9)
    for a, b in zip(mine + bm, ref + br):
        np.testing.assert_array_equal(a, b)
    # a float64 table (3 tensors) and a float32 one (2); the strided parameter and the float16 one go one by one
    assert sorted(launches) == [('sgd_mom', 2), ('sgd_mom', 3)]
    launches.clear()
    a, g = rng.standard_normal(4), rng.standard_normal(4)
    mine, ref = a.copy(), a.copy()
    m, v = np.zeros(4), np.zeros(4)
    MT.adam_([mine, mine], [g, g], [m, m], [v, v], [1, 2], 0.01)  # one array twice: updated twice, in order
    m2, v2 = np.zeros(4), np.zeros(4)
    K.fused_adam_([ref], [g], [m2], [v2], 1, 0.01)
    K.fused_adam_([ref], [g], [m2], [v2], 2, 0.01)
    np.testing.assert_array_equal(mine, ref)
    assert launches == []


def test_multi_tensor_kernels_compile_with_nvrtc():
    build = _nvrtc()
    for kind in MT._SPECS:
        for ctype in ('float', 'double'):
            src = MT.kernel_source(kind, ctype)
            assert MT.kernel_name(kind, ctype) in src
            try:
                build(src)
            except Exception as e:
                raise AssertionError(f'{kind} for {ctype}:\n{e}') from None


@needs_torch
def test_fused_and_foreach_options_as_pytorch():
    for cls in ('SGD', 'Adam', 'AdamW', 'Adagrad'):
        for kw, exc in ((dict(fused=True, foreach=True), RuntimeError), (dict(fused=True, differentiable=True),
                                                                         RuntimeError)):
            with pytest.raises(exc) as mine:
                getattr(ember.optim, cls)([ember.zeros(2, requires_grad=True)], lr=0.1, **kw)
            with pytest.raises(exc) as theirs:
                getattr(_torch.optim, cls)([_torch.zeros(2, requires_grad=True)], lr=0.1, **kw)
            assert str(mine.value) == str(theirs.value)
        for kw in (dict(fused=True), dict(foreach=True), dict(fused=False, foreach=False)):
            p = ember.ones(3, requires_grad=True)
            o = getattr(ember.optim, cls)([p], lr=0.1, **kw)
            p.grad = ember.ones(3)
            o.step()  # accepted; on cpu the NumPy update
    with pytest.raises(NotImplementedError):
        ember.optim.SGD([ember.zeros(2, requires_grad=True)], lr=0.1, differentiable=True)


def test_grad_scaler_accumulates_the_inf_check_off_the_cpu():
    scaler = ember.amp.GradScaler('cpu', init_scale=4.0)
    for bad in (None, 1, 2):
        ps = _fake_params([np.ones(3), np.ones(2), np.ones(4)])
        opt = ember.optim.SGD(ps, lr=1.0)
        for i, p in enumerate(ps):
            g = np.full(p._data.shape, 8.0)
            if i == bad:
                g[1] = np.inf if bad == 1 else np.nan
            p.grad = _wrap(g, _FAKE)
        scale = scaler.get_scale()
        scaler.unscale_(opt)
        st = scaler._per_optimizer[id(opt)]
        assert st['found_inf'] == (bad is not None)
        assert all(np.all(p.grad._data[np.isfinite(p.grad._data)] == 8.0 / scale) for p in ps)
        scaler.step(opt)
        assert all(np.all(p._data == (1.0 if bad is not None else 1.0 - 8.0 / scale)) for p in ps)
        scaler.update()
        assert scaler.get_scale() == (scale / 2 if bad is not None else scale)


@pytest.mark.parametrize('max_norm', [0.5, 100.0])
def test_clip_grad_norm_off_the_cpu_scales_on_the_device(max_norm):
    rng = np.random.default_rng(14)
    gs = [rng.standard_normal(s) for s in ((3, 4), (4,))]
    ps = _fake_params([np.zeros_like(g) for g in gs])
    pc = [ember.zeros(*g.shape, dtype=ember.float64, requires_grad=True) for g in gs]
    for p, q, g in zip(ps, pc, gs):
        p.grad, q.grad = _wrap(g.copy(), _FAKE), ember.tensor(g)
    tn = ember.nn.utils.clip_grad_norm_(ps, max_norm)
    tc = ember.nn.utils.clip_grad_norm_(pc, max_norm)
    _close(tn._data, _np(tc), 1e-15, 0)
    for p, q in zip(ps, pc):
        _close(p.grad._data, _np(q.grad), 1e-15, 0)
    ps[0].grad._data[0, 0] = np.nan  # a NaN norm spreads to every gradient, as on cpu
    ember.nn.utils.clip_grads_with_norm_(ps, 1.0, _wrap(np.array(np.nan), _FAKE))
    assert all(np.isnan(p.grad._data).all() for p in ps)


def test_avg_pool_divisor_is_computed_on_the_host():
    from ember.nn._functional import conv as C

    class Dev:  # an array module that only accepts the final divisor
        calls = []

        @staticmethod
        def asarray(a):
            Dev.calls.append(a)
            return a
    x = ember.randn(1, 1, 6, 6)
    for pad, cip, ceil, uniform in ((0, True, False, True), (1, True, False, True), (1, True, True, False),
                                    (1, False, False, False)):
        Dev.calls.clear()
        g = C._pool_geom(x, 2, 3, 2, pad, 1, ceil, 'avg_pool2d', avg=True)
        div = C._avg_divisor(Dev, g, cip)
        assert isinstance(div, int) == uniform and len(Dev.calls) == (0 if uniform else 1)
        np.testing.assert_array_equal(div, C._avg_divisor(np, g, cip))


def test_multinomial_rows_on_the_device_path():
    from ember._creation import _multinomial_rows

    class Gen:
        def __init__(self):
            self.r = np.random.default_rng(15)

        def random(self, shape):
            return self.r.random(shape)
    rng = np.random.default_rng(16)
    for C in (1, 2, 3, 8, 100):
        p = rng.random((4, C))
        if C > 1:
            p[0, 0] = p[1, -1] = 0.0
        got = _multinomial_rows(np, Gen(), p, 40, True)
        u = Gen().random((4, 40))
        want = np.minimum(np.stack([np.searchsorted(np.cumsum(r / r.sum()), x, side='right')
                                    for r, x in zip(p, u)]), C - 1)
        np.testing.assert_array_equal(got, want)
        k = min(C, 3) if C > 1 else 1
        wo = _multinomial_rows(np, Gen(), p, k, False)
        assert wo.shape == (4, k) and all(len(set(r)) == k for r in wo.tolist())
        if 1 < k < C:  # a zero-probability class is never drawn while others remain
            assert 0 not in wo[0].tolist() and C - 1 not in wo[1].tolist()
    with pytest.raises(RuntimeError, match='inf'):
        _multinomial_rows(np, Gen(), np.array([[0.5, -0.1]]), 1, True)
    with pytest.raises(RuntimeError, match='sum of probabilities'):
        _multinomial_rows(np, Gen(), np.array([[0.5, 0.5], [0.0, 0.0]]), 1, True)


# ---- on a GPU ---------------------------------------------------------------------------------------------------

@needs_cuda
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('chunk', [64, MT.CHUNK])
def test_multi_tensor_kernels_on_gpu_match_the_emulation(dtype, chunk):
    import cupy as cp
    rng = np.random.default_rng(17)
    shapes = [(3000, 7), (0,), (7,), (1,), (1025,), (33, 31)]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    p0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    for kw in (dict(momentum=0.9, nesterov=True, weight_decay=0.01), dict(momentum=0.0, maximize=True),
               dict(momentum=0.5, dampening=0.2)):
        ph, pd = [a.copy() for a in p0], [cp.asarray(a) for a in p0]
        bh = bd = None
        for step in range(3):
            gs = [rng.standard_normal(s).astype(dtype) for s in shapes]
            first = [step == 0 or (i == 2 and step == 1) for i in range(len(shapes))]
            bh = MT.sgd_(ph, gs, bh, 0.05, first=first, chunk=chunk, **kw)
            bd = MT.sgd_(pd, [cp.asarray(x) for x in gs], bd, 0.05, first=first, chunk=chunk, **kw)
        for a, b in zip(pd, ph):
            _close(a.get(), b, **tol)
    for kw in (dict(), dict(weight_decay=0.1, decoupled=True, amsgrad=True), dict(weight_decay=0.1, maximize=True)):
        ph, pd = [a.copy() for a in p0], [cp.asarray(a) for a in p0]
        sh = [[np.zeros_like(a) for a in p0] for _ in range(3)]
        sd = [[cp.zeros_like(a) for a in pd] for _ in range(3)]
        for step in range(1, 4):
            gs = [rng.standard_normal(s).astype(dtype) for s in shapes]
            steps = [step + i % 2 for i in range(len(shapes))] if step == 2 else step
            MT.adam_(ph, gs, sh[0], sh[1], steps, 1e-2, max_exp_avg_sqs=sh[2], chunk=chunk, **kw)
            MT.adam_(pd, [cp.asarray(x) for x in gs], sd[0], sd[1], steps, 1e-2, max_exp_avg_sqs=sd[2],
                     chunk=chunk, **kw)
        for a, b in zip(pd + sum(sd, []), ph + sum(sh, [])):
            _close(a.get(), b, **tol)


@needs_cuda
def test_multi_tensor_kernels_on_gpu_fall_back_for_half_and_strided():
    import cupy as cp
    rng = np.random.default_rng(18)
    arrs = [rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((4, 6)).T.astype(np.float32),
            rng.standard_normal(5).astype(np.float16)]
    grads = [rng.standard_normal(a.shape).astype(a.dtype) for a in arrs]
    ph = [a.copy() for a in arrs]
    pd = [cp.asarray(arrs[0]), cp.asarray(rng.standard_normal((4, 6)).astype(np.float32)).T, cp.asarray(arrs[2])]
    pd[1][...] = cp.asarray(arrs[1])
    assert not pd[1].flags.c_contiguous
    MT.sgd_(ph, grads, None, 0.1, momentum=0.9)
    MT.sgd_(pd, [cp.asarray(g) for g in grads], None, 0.1, momentum=0.9)
    for a, b in zip(pd, ph):  # float16: NumPy rounds after every operation, the kernel computes in float32
        tol = 2e-2 if a.dtype == np.float16 else 1e-5
        _close(a.get(), b, rtol=tol, atol=tol)


@needs_cuda
@pytest.mark.parametrize('cls,kw', _FUSED_CASES)
@pytest.mark.parametrize('fused', [None, False])
def test_fused_optimizers_on_cuda_match_cpu(cls, kw, fused, launches):
    ember.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    mc = copy.deepcopy(m).cuda()
    o = getattr(ember.optim, cls)(m.parameters(), **kw)
    oc = getattr(ember.optim, cls)([dict(params=list(mc.parameters())[:2]), dict(params=list(mc.parameters())[2:])],
                                   fused=fused, **kw)
    rng = np.random.default_rng(19)
    for _ in range(4):
        a, t = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
        for model, optim, dev in ((m, o, 'cpu'), (mc, oc, 'cuda')):
            optim.zero_grad()
            F.cross_entropy(model(ember.tensor(a, device=dev)), ember.tensor(t, device=dev)).backward()
            optim.step()
    for p, pc in zip(m.parameters(), mc.parameters()):
        _close(pc, p, 1e-9, 1e-11)
    on = fused is True or (fused is None and ember.backends.CUDA_FUSED)
    assert len(launches) == (8 if on else 0)  # two groups, four steps


def _no_sync():
    """cupyx.allow_synchronize(False): CuPy raises DeviceSynchronized at a host sync inside (deprecated, but the
    one detector CuPy has; it sees the syncs CuPy makes, e.g. .get(), bool(), .item())."""
    import warnings
    cupyx = pytest.importorskip('cupyx')
    if not hasattr(cupyx, 'allow_synchronize'):
        pytest.skip('this CuPy has no cupyx.allow_synchronize')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return cupyx.allow_synchronize(False)


@needs_cuda
@pytest.mark.parametrize('make', [lambda ps: ember.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda ps: ember.optim.SGD(ps, lr=0.1, weight_decay=0.1),
                                  lambda ps: ember.optim.Adam(ps, lr=1e-3, amsgrad=True),
                                  lambda ps: ember.optim.AdamW(ps, lr=1e-3, fused=True)])
def test_fused_optimizer_steps_do_not_sync_with_the_host(make):
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10)).cuda()
    x = ember.randn(8, 16, device='cuda')
    opt = make(model.parameters())
    for i in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        if i == 0:  # the first step compiles kernels and creates state
            nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()
            continue
        with _no_sync():
            nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()


@needs_cuda
@pytest.mark.parametrize('op', ['avg_pool2d', 'embedding', 'sdpa_dropout'])
def test_ops_with_host_sync_fixes_do_not_sync(op):
    ember.manual_seed(0)
    x = ember.randn(2, 3, 9, 9, device='cuda')
    emb = nn.Embedding(10, 4).cuda()
    idx = ember.tensor([[1, 2, 9]], device='cuda')
    q = ember.randn(2, 2, 5, 8, device='cuda')
    run = {'avg_pool2d': lambda: F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False),
           'embedding': lambda: emb(idx),
           'sdpa_dropout': lambda: F.scaled_dot_product_attention(q, q, q, dropout_p=0.3)}[op]
    run()  # warm up (kernel compiles)
    with _no_sync():
        out = run()
    assert out.is_cuda


@needs_cuda
def test_host_sync_fixes_on_cuda_give_the_cpu_results():
    ember.manual_seed(0)
    x = ember.randn(2, 3, 9, 9, device='cuda')
    for pad, cip, ceil in ((1, False, False), (1, True, True), (0, True, False)):
        _close(F.avg_pool2d(x, 3, 2, padding=pad, count_include_pad=cip, ceil_mode=ceil),
               F.avg_pool2d(x.cpu(), 3, 2, padding=pad, count_include_pad=cip, ceil_mode=ceil), 1e-6, 1e-7)
    emb = nn.Embedding(10, 4).cuda()
    idx = ember.tensor([[1, 2, 9]], device='cuda')
    _close(emb(idx), emb.cpu()(idx.cpu()), 0, 0)
    q = ember.randn(2, 2, 5, 8, device='cuda')
    att = F.scaled_dot_product_attention(q, q, q, dropout_p=0.3)
    assert att.is_cuda and att.dtype == ember.float32 and np.isfinite(_np(att)).all()
    probs = ember.tensor([[0.0, 0.2, 0.8], [0.5, 0.5, 0.0]], device='cuda')
    s = ember.multinomial(probs, 2000, replacement=True).cpu().numpy()
    assert (s[0] != 0).all() and (s[1] != 2).all() and abs((s[0] == 2).mean() - 0.8) < 0.05
    w = ember.multinomial(probs, 2).cpu().numpy()
    assert sorted(w[0].tolist()) == [1, 2] and sorted(w[1].tolist()) == [0, 1]
    with pytest.raises(RuntimeError, match='sum of probabilities'):
        ember.multinomial(ember.zeros(2, 3, device='cuda'), 1)
    scaler = ember.amp.GradScaler(init_scale=2.0)
    p = ember.ones(3, device='cuda', requires_grad=True)
    opt = ember.optim.SGD([p], lr=1.0)
    p.grad = ember.tensor([2.0, float('inf'), 2.0], device='cuda')
    scaler.step(opt)
    scaler.update()
    _close(p, np.ones(3), 0, 0)  # skipped
    assert scaler.get_scale() == 1.0


def test_fused_route_is_off_for_a_subclass_that_changes_the_math(launches):
    class Halved(ember.optim.SGD):
        def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
            return super()._kernel(xp, hp, p, g * 0.5, True, bufs, scal, fresh, tmp)

    class Renamed(ember.optim.AdamW):
        pass
    for cls, fused in ((Halved, False), (Renamed, True)):
        launches.clear()
        (p,) = _fake_params([np.ones(3)])
        o = cls([p], lr=0.1)
        p.grad = _wrap(np.ones(3), _FAKE)
        o.step()
        assert bool(launches) == fused
        if cls is Halved:
            _close(p._data, np.full(3, 0.95), 1e-12, 0)
