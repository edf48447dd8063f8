"""The optimizer engine's fast routes (stateless batch, sliced large parameters, worker policy, pack checks) pinned
to the readable per-parameter reference ``update(p, g, state, group)``, bit for bit."""
import numpy as np
import pytest

import ember
from ember.optim import _threads

from test_optim import _ids
from test_optim_reference import _run, assert_ulps, reference_of, _state_arrays

# options of stateless SGD (the batch route) and of the stateful optimizers (the sliced route)
LIGHT_CASES = [
    ('SGD', dict(lr=0.1)),
    ('SGD', dict(lr=0.05, weight_decay=0.1)),
    ('SGD', dict(lr=0.05, maximize=True)),
    ('SGD', dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ('SGD', dict(lr=0.1, foreach=True)),
    ('SGD', dict(lr=0.1, foreach=False, fused=True)),
]
SLICE_CASES = LIGHT_CASES[:2] + [
    ('SGD', dict(lr=0.1, momentum=0.9)),
    ('SGD', dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ('SGD', dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ('Adam', dict(lr=0.05, amsgrad=True)),
    ('AdamW', dict(lr=0.05, weight_decay=0.1)),
    ('RMSprop', dict(lr=0.01, centered=True, momentum=0.5)),
    ('Adagrad', dict(lr=0.1, lr_decay=0.05)),
    ('NAdam', dict(lr=0.05)),
    ('RAdam', dict(lr=0.05)),
    ('Adamax', dict(lr=0.05)),
    ('Adadelta', dict(lr=0.5)),
]
# small parameters (the stateless batch) beside a large one (direct, or sliced over threads)
SHAPES = [(3, 4), (5,), (2, 3, 2), (7,), (1,), (0,), (40, 30), ()]


def _kinds(opt):
    """The kinds of update item the engine plans for the optimizer's next step."""
    work = []
    for group in opt.param_groups:
        opt._plan_group(group, work)
    return sorted(w[1] for w in opt._blocked(work))


@pytest.mark.parametrize('dtype', ['float32', 'float64', 'float16'])
@pytest.mark.parametrize('case', LIGHT_CASES, ids=_ids)
def test_stateless_batch_matches_reference(case, dtype):
    """Plain SGD's small cpu parameters are updated in one loop (item kind 3): same numbers as ``update``."""
    name, kw = case
    opt = _run(name, kw, dtype, small=100, shapes=SHAPES)
    assert 3 in _kinds(opt) and not any(opt.state.values())  # nothing recorded, as in PyTorch


@pytest.mark.parametrize('case', LIGHT_CASES[:4], ids=_ids)
def test_stateless_batch_skips_missing_gradients(case):
    none = {(0, 1), (1, 1), (2, 0), (3, 3), (5, 0), (5, 1), (6, 4), (4, 7)}
    _run(case[0], case[1], 'float64', small=100, shapes=SHAPES, none_grads=none)


def _pairs(a):
    """A complex array as (..., 2) reals, as PyTorch updates it (view_as_real); real arrays as they are."""
    return a[..., None].view(a.real.dtype) if a.dtype.kind == 'c' else a


def _complex_run(name, kw, dtype, steps=4):
    """Complex parameters (nonzero imaginary parts) beside real ones of the matching precision, against the
    reference run on their (real, imag) pairs."""
    rng = np.random.default_rng(5)
    real = np.float32 if dtype == 'complex64' else np.float64
    shapes = [(3, 4), (6,), (40, 30)]
    arrs = [(rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(dtype) for s in shapes]
    arrs.append(rng.standard_normal((5,)).astype(real))
    params = [ember.tensor(a, requires_grad=True) for a in arrs]
    opt = getattr(ember.optim, name)(params, **kw)
    opt._small = 100
    update, group = reference_of(opt), {k: v for k, v in opt.param_groups[0].items() if k != 'params'}
    ref = [{} for _ in params]
    for k in range(steps):
        before = [p._data.copy() for p in params]
        grads = [(0.5 * b + rng.standard_normal(b.shape) + (1j * rng.standard_normal(b.shape)
                                                             if b.dtype.kind == 'c' else 0)).astype(b.dtype)
                 for b in before]
        for p, g in zip(params, grads):
            p.grad = ember.tensor(g)
        opt.step()
        for i, p in enumerate(params):
            expected = update(_pairs(before[i]), _pairs(grads[i]), ref[i], group)
            assert_ulps(_pairs(p._data), expected, 0, f'{name} {kw} step {k} param {i}')
            ref[i] = {n: v if isinstance(v, float) else _pairs(v) for n, v in _state_arrays(opt.state[p]).items()}


@pytest.mark.parametrize('dtype', ['complex64', 'complex128'])
@pytest.mark.parametrize('case', [LIGHT_CASES[0], LIGHT_CASES[3], SLICE_CASES[3], SLICE_CASES[5],
                                  SLICE_CASES[7]], ids=_ids)
def test_complex_parameters_match_reference(case, dtype):
    """Complex parameters are updated as (real, imag) pairs, outside the batch and the packs, next to real ones
    that are in them."""
    _complex_run(case[0], case[1], dtype)


@pytest.fixture
def two_threads(monkeypatch):
    """Worker threads on, for test-sized parameters: any item of 50 elements or more may go to a worker."""
    monkeypatch.setattr(_threads, '_PARALLEL_MIN', 0)
    monkeypatch.setattr(_threads, '_ITEM_MIN', 50)
    monkeypatch.setattr(_threads, '_ADAPT', False)  # always shared, however the timing goes
    before = _threads.get_num_threads()
    _threads.set_num_threads(2)
    yield
    _threads.set_num_threads(before)


@pytest.mark.parametrize('case', SLICE_CASES, ids=_ids)
def test_sliced_large_parameter_matches_reference(two_threads, monkeypatch, case):
    """A parameter much larger than the rest is updated as flat slices shared by the threads (item kind 4): the
    numbers, the state and the step count (advanced once, not once per slice) equal the reference's."""
    sliced = []
    split = ember.optim._engine._ElementwiseOptimizer._split

    def spy(self, item, parts):
        out = split(self, item, parts)
        sliced.append(out is not None and len(out))
        return out
    monkeypatch.setattr(ember.optim._engine._ElementwiseOptimizer, '_split', spy)
    name, kw = case
    for dtype in ('float32', 'float64'):
        # (no 0-d parameter here: the helper keeps a 0-d state entry as a float, as it keeps 'step')
        _run(name, kw, dtype, small=20, shapes=SHAPES[:-1] + [(6, 10)], none_grads={(2, 6)})
    assert any(n and n > 1 for n in sliced)


def test_slices_bump_the_version_once(two_threads):
    """Every updated parameter's version advances by one per step, whichever route updated it."""
    rng = np.random.default_rng(0)
    for kw in (dict(lr=0.1), dict(lr=0.1, momentum=0.9)):
        params = [ember.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
                  for s in SHAPES + [(6, 10)]]
        opt = ember.optim.SGD(params, **kw)
        opt._small = 20
        for p in params:
            p.grad = ember.ones(p.shape)
        for k in range(3):
            before = [p._version for p in params]
            opt.step()
            assert [p._version - b for p, b in zip(params, before)] == [1] * len(params)


def test_workers_take_only_large_items(two_threads, monkeypatch):
    """Items below _ITEM_MIN stay on the calling thread (two threads on small items fight over the GIL)."""
    seen = []
    run_items = ember.optim._engine._ElementwiseOptimizer._run_items

    def spy(self, items, worker):
        seen.extend((worker, w[0], w[1]) for w in items)
        return run_items(self, items, worker)
    monkeypatch.setattr(ember.optim._engine._ElementwiseOptimizer, '_run_items', spy)
    monkeypatch.setattr(_threads, '_ITEM_MIN', 500)
    rng = np.random.default_rng(0)
    shapes = [(30, 30), (20, 30), (40, 30), (10,), (7,), (3, 3)] * 2
    params = [ember.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    for p in params:
        p.grad = ember.ones(p.shape, dtype=ember.float64)
    opt = ember.optim.Adam(params, lr=0.1)
    opt._small = 100
    for _ in range(20):
        seen.clear()
        opt.step()
        assert all(size >= 500 and kind != 3 for worker, size, kind in seen if worker)
        assert any(size < 500 for worker, size, kind in seen if not worker)


@pytest.mark.parametrize('name', ['SGD', 'Adam'])
@pytest.mark.parametrize('small', [100, 0], ids=['batched', 'direct'])
def test_sparse_gradients_refused_as_before(name, small):
    """A sparse gradient raises ember's RuntimeError for sparse tensors (now, for SGD's batched small parameters,
    before anything is updated)."""
    p = ember.zeros(3, 4, requires_grad=True)
    q = ember.ones(5, requires_grad=True)
    q.grad = ember.ones(5)
    p.grad = ember.ones(3, 4).to_sparse()
    opt = getattr(ember.optim, name)([q, p], lr=0.1)
    opt._small = small
    with pytest.raises(RuntimeError, match='not supported for sparse tensors'):
        opt.step()
    if name == 'SGD' and small:
        np.testing.assert_array_equal(q.detach().numpy(), np.ones(5, np.float32))
    np.testing.assert_array_equal(p.detach().numpy(), np.zeros((3, 4), np.float32))


@pytest.mark.parametrize('how', ['replaced', 'data', 'dropped'])
def test_pack_rebuilt_when_its_state_changes(how):
    """A packed parameter's state changed from outside (a new tensor, new .data, an entry removed) is picked up by
    the next step instead of the pack's stale buffer, as the per-parameter path would."""
    rng = np.random.default_rng(1)
    shapes = [(4,), (3, 2), (5,)]
    params = [ember.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    opt = ember.optim.Adam(params, lr=0.1)
    update, group = reference_of(opt), {k: v for k, v in opt.param_groups[0].items() if k != 'params'}
    for p in params:
        p.grad = ember.tensor(rng.standard_normal(p.shape))
    opt.step()
    st = opt.state[params[1]]
    new = rng.standard_normal((3, 2))
    if how == 'replaced':
        st['exp_avg'] = ember.tensor(new)
    elif how == 'data':
        st['exp_avg'].data = ember.tensor(new)
    else:
        del st['exp_avg_sq']
    ref = [_state_arrays(opt.state[p]) for p in params]
    if how == 'dropped':  # made again as zeros, as a new parameter's
        ref[1]['exp_avg_sq'] = np.zeros((3, 2))
    before = [p._data.copy() for p in params]
    grads = [rng.standard_normal(p.shape) for p in params]
    for p, g in zip(params, grads):
        p.grad = ember.tensor(g)
    opt.step()
    for i, p in enumerate(params):
        assert_ulps(p._data, update(before[i], grads[i], ref[i], group), 0, f'{how} param {i}')


def _drive(choice, alone_s, shared_s, steps):
    """Run ``choice`` for ``steps`` steps where a lone step takes ``alone_s`` and a shared one ``shared_s``;
    returns the modes it picked (True: shared)."""
    picks = []
    for _ in range(steps):
        shared = choice.shared()
        choice.record(shared, shared_s if shared else alone_s)
        picks.append(shared)
    return picks


@pytest.mark.parametrize('threads_faster', [True, False])
def test_thread_choice_learns_the_faster_mode_and_keeps_probing(threads_faster):
    """The engine tries both modes, then keeps to the faster (by the median of recent steps) and tries the other
    again now and then, less often the slower it was, so that a change of the machine's load is noticed."""
    choice = _threads._Choice()
    fast, slow = 1.0, 3.0
    picks = _drive(choice, slow if threads_faster else fast, fast if threads_faster else slow, 200)
    assert picks[:4] in ([False, True, False, True], [True, False, True, False])
    later = picks[4:]
    other = later.count(not threads_faster)
    assert 0 < other <= len(later) / (_threads._Choice.PROBE * 3 - 1) + 1  # probes only, at most 1 in 60
    # the machine changes: the mode that was slower becomes the faster; the choice follows within a few probes
    picks = _drive(choice, fast if threads_faster else slow, slow if threads_faster else fast, 600)
    assert picks[-100:].count(not threads_faster) >= 95


def test_thread_choice_ignores_outliers():
    """One slow step (the machine busy for a moment) does not change the mode: medians of the last steps decide."""
    choice = _threads._Choice()
    _drive(choice, 2.0, 1.0, 10)
    choice.record(True, 100.0)
    assert choice.shared()


@pytest.mark.parametrize('case', SLICE_CASES, ids=_ids)
def test_cache_blocked_large_parameter_matches_reference(monkeypatch, case):
    """A large cpu parameter's update runs in slices of ``_block`` elements on one thread (cache blocking): the
    numbers, the state and the step count equal the reference's, with missing gradients and a 0-size parameter."""
    name, kw = case
    monkeypatch.setattr(getattr(ember.optim, name), '_block', 100)  # (SGD's default is 0: not sliced)
    monkeypatch.setattr(_threads, '_PARALLEL_MIN', 1 << 40)  # one thread: slices run one after another
    for dtype in ('float32', 'float64'):
        opt = _run(name, kw, dtype, small=20, shapes=SHAPES[:-1] + [(7, 29)], none_grads={(2, 6), (3, 7)})
        kinds = _kinds(opt)
        assert kinds.count(4) == 12 + 3  # (40, 30) in 12 slices, (7, 29) in 3


def test_duplicated_parameter_not_blocked(monkeypatch):
    """A parameter listed twice is updated twice, in order, the second time from the first's step count (so its
    update is not sliced ahead of time)."""
    monkeypatch.setattr(ember.optim.Adam, '_block', 100)
    rng = np.random.default_rng(2)
    p = ember.tensor(rng.standard_normal((30, 30)), requires_grad=True)
    p.grad = ember.tensor(rng.standard_normal((30, 30)))
    with pytest.warns(UserWarning, match='duplicate parameters'):
        opt = ember.optim.Adam([p, p], lr=0.1)
    update, group = reference_of(opt), {k: v for k, v in opt.param_groups[0].items() if k != 'params'}
    st = {}
    expected = update(update(p._data.copy(), p.grad._data, st, group), p.grad._data, st, group)
    opt.step()
    assert_ulps(p._data, expected, 0, 'twice')
    assert opt.state[p]['step'].item() == 2


def test_block_sizes():
    """Cache blocking is on for the many-pass optimizers and off for SGD, whose few passes did not gain."""
    assert ember.optim.SGD._block == 0
    for name in ('Adam', 'AdamW', 'RMSprop', 'Adagrad', 'NAdam'):
        assert getattr(ember.optim, name)._block == 1 << 17
