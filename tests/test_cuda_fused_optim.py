"""Fused multi-tensor optimizer updates (ember/optim/_fused.py) and the host-sync fixes, with and without a GPU."""
import copy

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.backends import cuda_kernels as K

from _cuda_common import needs_cuda, _np, _close, _nvrtc


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
    from ember.nn._functional import pooling as C

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
    from ember._sampling import _multinomial_rows

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
