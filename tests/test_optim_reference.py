"""The optimizers' fast paths (in place, packed, threaded, multi-tensor) against their readable reference updates."""
import importlib

import numpy as np
import pytest

import ember
from ember._tensor import _wrap
from ember.optim import _threads

from test_optim import CASES, _ids

# options that only select an implementation in PyTorch: the numbers must not change
FLAG_CASES = [
    ('SGD', dict(lr=0.1, momentum=0.9, foreach=True)),
    ('SGD', dict(lr=0.1, fused=True)),
    ('Adam', dict(lr=0.05, foreach=False)),
    ('Adam', dict(lr=0.05, fused=True, amsgrad=True)),
    ('AdamW', dict(lr=0.05, foreach=True, weight_decay=0.1)),
    ('RMSprop', dict(lr=0.01, foreach=True, centered=True)),
    ('Adagrad', dict(lr=0.1, foreach=False)),
    ('NAdam', dict(lr=0.05, foreach=True)),
]
SHAPES = [(3, 4), (5,), (2, 3, 2), (7,), (1,), (0,), (40, 30)]
STEPS = 7


def reference_of(opt):
    """The reference ``update(p, g, state, group)`` of an optimizer: its module's."""
    return importlib.import_module(type(opt).__module__).update


def _state_arrays(st):
    """An ember state dict as the reference keeps it: arrays, and floats for the scalar entries."""
    out = {}
    for k, v in st.items():
        a = v._data  # (a stand-in 'cuda' tensor has no .numpy())
        out[k] = float(a) if a.ndim == 0 else a.copy()
    return out


def assert_ulps(actual, expected, ulps, what, scale=0):
    """``actual`` equals ``expected`` exactly (``ulps=0``) or within ``ulps`` units in the last place of the
    larger of them and ``scale`` (the operands' magnitude: ``p - u`` can cancel to far below ``p``)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, what
    if ulps == 0:
        assert np.array_equal(actual, expected, equal_nan=True), what
        return
    spacing = np.spacing(np.maximum(np.maximum(np.abs(actual), np.abs(expected)), np.abs(scale)))
    bad = np.abs(actual - expected) > ulps * spacing
    assert not bad.any(), f'{what}: {np.count_nonzero(bad)} elements off by more than {ulps} ulp'


def _tensor(arr, device, requires_grad=False):
    t = ember.tensor(arr) if device is None else _wrap(arr, device)
    return t.requires_grad_(True) if requires_grad else t


def _run(name, kw, dtype, small=None, ulps=0, steps=STEPS, shapes=SHAPES, none_grads=(), device=None):
    """Step an ember optimizer and the reference side by side, both from the same state before every step."""
    rng = np.random.default_rng(0)
    params = [_tensor(rng.standard_normal(s).astype(dtype), device, True) for s in shapes]
    opt = getattr(ember.optim, name)(params, **kw)
    if small is not None:
        opt._small = small
    update = reference_of(opt)
    group = {k: v for k, v in opt.param_groups[0].items() if k != 'params'}
    ref_state = [{} for _ in params]
    if name == 'Adagrad':  # Adagrad makes its state at construction
        ref_state = [_state_arrays(opt.state[p]) for p in params]
    for k in range(steps):
        before = [p._data.copy() for p in params]
        grads = []
        for i, p in enumerate(params):
            g = (0.5 * before[i] + rng.standard_normal(before[i].shape)).astype(dtype)
            grads.append(None if (k, i) in none_grads else g)
            p.grad = None if grads[i] is None else _tensor(g, device)
        opt.step()
        for i, p in enumerate(params):
            if grads[i] is None:
                continue
            expected = update(before[i], grads[i], ref_state[i], group)
            what = f'{name} {kw} step {k} param {i}'
            scale = np.maximum(np.abs(before[i]), np.abs(before[i] - expected))  # the operands of p - update
            assert_ulps(p._data, expected, ulps, what, scale=scale)
            mine = _state_arrays(opt.state[p])
            assert sorted(mine) == sorted(ref_state[i]), what
            for key, val in ref_state[i].items():
                if isinstance(val, float):
                    assert mine[key] == val, (what, key)
                else:
                    assert_ulps(mine[key], val, ulps, f'{what} {key}', scale=np.abs(val) + np.abs(grads[i]))
            ref_state[i] = mine  # the next step starts both from the same state again
    return opt


def _ulps(name, kw):
    """How far the fast path may be from the reference: nowhere (the kernels do the reference's operations in
    its order, into scratch arrays)."""
    return 0


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('small', [None, 0], ids=['packed', 'direct'])
@pytest.mark.parametrize('case', CASES + FLAG_CASES, ids=_ids)
def test_fast_path_matches_reference(case, small, dtype):
    """Every optimizer and option: parameters updated in place ('direct') or packed flat ('packed', small ones)
    equal the reference update's, and so does the state."""
    name, kw = case
    _run(name, kw, dtype, small=small, ulps=_ulps(name, kw))


@pytest.mark.parametrize('case', CASES[::2], ids=_ids)
def test_threaded_fast_path_matches_reference(monkeypatch, case):
    """Updates split over worker threads (each with its own scratch memory) change nothing."""
    monkeypatch.setattr(_threads, '_PARALLEL_MIN', 0)
    monkeypatch.setattr(_threads, '_ITEM_MIN', 0)
    monkeypatch.setattr(_threads, '_ADAPT', False)  # always shared, however the timing goes
    before = _threads.get_num_threads()
    _threads.set_num_threads(3)
    try:
        _run(case[0], case[1], 'float32', small=100, ulps=_ulps(*case))
    finally:
        _threads.set_num_threads(before)


@pytest.mark.parametrize('case', CASES[1::5], ids=_ids)
def test_missing_gradients_match_reference(case):
    """Parameters without a gradient are skipped, which splits packs into single updates for a step."""
    none = {(0, 1), (1, 1), (2, 0), (3, 3), (5, 0), (5, 1), (6, 4)}
    _run(case[0], case[1], 'float64', none_grads=none, ulps=_ulps(*case))


# ---- the cuda kernels' NumPy emulation (same table walk and per-element math as the CUDA C) -------------------------

_FUSED_CASES = [
    ('SGD', dict(lr=0.1)), ('SGD', dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ('SGD', dict(lr=0.1, momentum=0.9)), ('SGD', dict(lr=0.1, momentum=0.8, dampening=0.2, weight_decay=0.05)),
    ('SGD', dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ('Adam', dict(lr=0.05)), ('Adam', dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True)),
    ('AdamW', dict(lr=0.05, weight_decay=0.1)), ('AdamW', dict(lr=0.05, amsgrad=True)),
]


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('case', _FUSED_CASES, ids=_ids)
def test_multi_tensor_emulation_matches_reference(case, dtype):
    """ember/optim/_fused.py's kernels, run as their NumPy emulation, follow the reference update. They compute
    the same formulas in another association order (as the CUDA C does), so agreement is to a few ulps."""
    from ember.optim import _fused
    name, kw = case
    rng = np.random.default_rng(3)
    ps = [rng.standard_normal(s).astype(dtype) for s in ((3, 4), (5,), (700,), (1,))]
    opt = getattr(ember.optim, name)([ember.tensor(p) for p in ps], **kw)
    update, group = reference_of(opt), {k: v for k, v in opt.param_groups[0].items() if k != 'params'}
    states = [{} for _ in ps]
    mom = group.get('momentum', 0)
    bufs = None
    for k in range(4):
        gs = [rng.standard_normal(p.shape).astype(dtype) for p in ps]
        before = [p.copy() for p in ps]
        expected = [update(p.copy(), g, st, group) for p, g, st in zip(ps, gs, states)]
        if name == 'SGD':
            bufs = _fused.sgd_(ps, gs, bufs, group['lr'], mom, group['dampening'], group['weight_decay'],
                               group['nesterov'], group['maximize'], first=k == 0, chunk=64)
        else:
            if k == 0:
                m, v, vmax = ([np.zeros_like(p) for p in ps] for _ in range(3))
            _fused.adam_(ps, gs, m, v, k + 1, group['lr'], *group['betas'], group['eps'], group['weight_decay'],
                         decoupled=name == 'AdamW', amsgrad=group['amsgrad'], max_exp_avg_sqs=vmax,
                         maximize=group['maximize'], chunk=64)
        for i, (p, e) in enumerate(zip(ps, expected)):
            scale = np.maximum(np.abs(before[i]), np.abs(before[i] - e))  # the operands of p - update
            assert_ulps(p, e, 4, f'{name} {kw} step {k} param {i}', scale=scale)
            ps[i] = e  # resynchronise: each step is checked from the same starting point
            if bufs is not None:
                bufs[i][...] = states[i]['momentum_buffer']
            if name != 'SGD':
                m[i][...], v[i][...] = states[i]['exp_avg'], states[i]['exp_avg_sq']
                if group['amsgrad']:
                    vmax[i][...] = states[i]['max_exp_avg_sq']


@pytest.mark.parametrize('name', ['Adam', 'AdamW', 'RMSprop', 'Adadelta', 'Adamax', 'NAdam', 'RAdam'])
def test_capturable_refuses_cpu_parameters_as_pytorch(name):
    """capturable=True is for cuda graphs: on cpu parameters step() raises PyTorch's AssertionError, after the
    state is made, and leaves the parameters alone."""
    p = ember.ones(3, requires_grad=True)
    p.grad = ember.ones(3)
    opt = getattr(ember.optim, name)([p], lr=0.1, capturable=True)
    what = 'params, mu_products and state_steps' if name == 'NAdam' else 'params and state_steps'
    with pytest.raises(AssertionError, match=f"If capturable=True, {what} must be on supported devices: "
                                             r"\['cuda', 'xpu', 'hpu', 'privateuseone', 'xla'\]\."):
        opt.step()
    assert opt.state[p]['step'].item() == 0
    np.testing.assert_array_equal(p.detach().numpy(), np.ones(3, np.float32))


def test_error_in_a_worker_thread_reaches_the_caller(monkeypatch):
    """An exception raised while a worker updates a parameter is raised by step(); the pool keeps working."""
    monkeypatch.setattr(_threads, '_PARALLEL_MIN', 0)
    monkeypatch.setattr(_threads, '_ITEM_MIN', 0)
    monkeypatch.setattr(_threads, '_ADAPT', False)  # always shared, however the timing goes
    before = _threads.get_num_threads()
    _threads.set_num_threads(2)
    try:
        params = [ember.zeros(50, requires_grad=True) for _ in range(6)]
        for p in params:
            p.grad = ember.ones(50)
        opt = ember.optim.SGD(params, lr=0.5)
        opt._small = 0
        kernel = opt._kernel
        calls = []

        def failing(xp, hp, p, g, *args):
            calls.append(1)
            if len(calls) == 3:
                raise FloatingPointError('boom')
            return kernel(xp, hp, p, g, *args)
        opt._kernel = failing
        with pytest.raises(FloatingPointError, match='boom'):
            opt.step()
        opt._kernel = kernel
        for p in params:
            p.data.zero_()
        opt.step()
        for p in params:
            np.testing.assert_array_equal(p.detach().numpy(), np.full(50, -0.5, np.float32))
    finally:
        _threads.set_num_threads(before)


class _NumpyCuda:
    """A device that says 'cuda' and computes with NumPy: SGD/Adam/AdamW take the fused multi-tensor route and its
    kernels run their NumPy emulation; ``fused=False`` takes the generic per-parameter path."""
    type, index, xp = 'cuda', 0, np

    def __repr__(self):
        return "device(type='cuda', index=0)"


@pytest.mark.parametrize('fused', [None, False], ids=['fused', 'per-parameter'])
@pytest.mark.parametrize('case', _FUSED_CASES, ids=_ids)
def test_cuda_routes_on_a_stand_in_device_match_reference(case, fused):
    """The whole cuda glue (state, steps, first-step flags, tables) against the reference: the fused emulation
    to 4 ulps of the operands (another association order, as the CUDA C), the per-parameter path exactly."""
    name, kw = case
    _run(name, dict(kw, fused=fused), 'float64', ulps=0 if fused is False else 4, steps=4, device=_NumpyCuda(),
         shapes=[(5, 3), (3,), (1,), (40, 30), (0,), (2, 2, 2)])
