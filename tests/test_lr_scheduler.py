"""ember.optim.lr_scheduler: learning-rate (and momentum) sequences equal PyTorch's; state dicts; warnings; errors."""
import copy
import math
import warnings

import numpy as np
import pytest

import ember
import ember.optim as eoptim
from ember.optim import lr_scheduler as elrs
from conftest import torch, needs_torch


def _opt(fw, kind='SGD', groups=2):
    ps = [fw.zeros(2, requires_grad=True) for _ in range(groups)]
    lrs = [0.1, 0.05, 0.2][:groups]
    group_list = [{'params': [p], 'lr': lr} for p, lr in zip(ps, lrs)]
    if kind == 'SGD':
        return fw.optim.SGD(group_list, lr=0.1, momentum=0.9)
    return fw.optim.Adam(group_list, lr=0.1)


def _lambda_half(epoch):
    return 0.5 ** epoch


def _mult(epoch):
    return 0.95


# name -> (builder(fw, opt) -> scheduler, optimizer kind, steps)
CASES = {
    'StepLR': (lambda fw, o: fw.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5), 'SGD', 40),
    'MultiStepLR': (lambda fw, o: fw.optim.lr_scheduler.MultiStepLR(o, milestones=[3, 10, 10, 25], gamma=0.3),
                    'SGD', 40),
    'ExponentialLR': (lambda fw, o: fw.optim.lr_scheduler.ExponentialLR(o, gamma=0.93), 'SGD', 50),
    'CosineAnnealingLR': (lambda fw, o: fw.optim.lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
                          'SGD', 60),
    'CosineAnnealingWarmRestarts': (lambda fw, o: fw.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        o, T_0=5, T_mult=2, eta_min=0.01), 'SGD', 60),
    'CosineAnnealingWarmRestarts-mult1': (lambda fw, o: fw.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        o, T_0=7), 'Adam', 40),
    'LambdaLR': (lambda fw, o: fw.optim.lr_scheduler.LambdaLR(o, lr_lambda=_lambda_half), 'SGD', 30),
    'LambdaLR-list': (lambda fw, o: fw.optim.lr_scheduler.LambdaLR(
        o, lr_lambda=[_lambda_half, lambda e: 1.0 / (1 + e)]), 'SGD', 30),
    'MultiplicativeLR': (lambda fw, o: fw.optim.lr_scheduler.MultiplicativeLR(o, lr_lambda=_mult), 'SGD', 40),
    'LinearLR': (lambda fw, o: fw.optim.lr_scheduler.LinearLR(o, start_factor=0.2, end_factor=0.9,
                                                               total_iters=12), 'SGD', 30),
    'LinearLR-default': (lambda fw, o: fw.optim.lr_scheduler.LinearLR(o), 'Adam', 20),
    'ConstantLR': (lambda fw, o: fw.optim.lr_scheduler.ConstantLR(o, factor=0.4, total_iters=6), 'SGD', 20),
    'PolynomialLR': (lambda fw, o: fw.optim.lr_scheduler.PolynomialLR(o, total_iters=15, power=2.0), 'SGD', 30),
    'OneCycleLR-cos': (lambda fw, o: fw.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=100), 'SGD', 99),
    'OneCycleLR-linear-adam': (lambda fw, o: fw.optim.lr_scheduler.OneCycleLR(
        o, max_lr=[0.5, 0.8], epochs=5, steps_per_epoch=10, anneal_strategy='linear', pct_start=0.25), 'Adam', 49),
    'OneCycleLR-three-phase': (lambda fw, o: fw.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.3, total_steps=60, three_phase=True, div_factor=10.0, final_div_factor=100.0), 'SGD', 59),
    'OneCycleLR-no-momentum': (lambda fw, o: fw.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.3, total_steps=30, cycle_momentum=False), 'Adam', 29),
    'CyclicLR-triangular2': (lambda fw, o: fw.optim.lr_scheduler.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6, mode='triangular2'), 'SGD', 50),
    'CyclicLR-exp-range-adam': (lambda fw, o: fw.optim.lr_scheduler.CyclicLR(
        o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=5, mode='exp_range', gamma=0.97), 'Adam', 50),
    'SequentialLR': (lambda fw, o: fw.optim.lr_scheduler.SequentialLR(
        o, [fw.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
            fw.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20),
            fw.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)], milestones=[5, 25]), 'SGD', 40),
    'SequentialLR-exp': (lambda fw, o: fw.optim.lr_scheduler.SequentialLR(
        o, [fw.optim.lr_scheduler.ConstantLR(o, factor=0.1, total_iters=2),
            fw.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)], milestones=[2]), 'SGD', 20),
    'ChainedScheduler': (lambda fw, o: fw.optim.lr_scheduler.ChainedScheduler(
        [fw.optim.lr_scheduler.ConstantLR(o, factor=0.1, total_iters=2),
         fw.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)]), 'SGD', 30),
    'ChainedScheduler-cosine': (lambda fw, o: fw.optim.lr_scheduler.ChainedScheduler(
        [fw.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10),
         fw.optim.lr_scheduler.MultiStepLR(o, milestones=[4, 8], gamma=0.5)], optimizer=o), 'SGD', 30),
}


def _sequence(fw, name):
    build, kind, steps = CASES[name]
    opt = _opt(fw, kind)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        sched = build(fw, opt)
        seq = [(list(sched.get_last_lr()), _momenta(opt))]
        for _ in range(steps):
            opt.step()
            sched.step()
            seq.append((list(sched.get_last_lr()), _momenta(opt)))
    return seq, opt, sched


def _momenta(opt):
    return [g['betas'][0] if 'betas' in g else g['momentum'] for g in opt.param_groups]


def _close(a, b):
    np.testing.assert_allclose(np.array(a, dtype=float), np.array(b, dtype=float), rtol=1e-12, atol=1e-15)


@needs_torch
@pytest.mark.parametrize('name', list(CASES))
def test_sequence_matches_pytorch(name):
    se, oe, _ = _sequence(ember, name)
    st, ot, _ = _sequence(torch, name)
    assert len(se) == len(st)
    for k, ((le, me), (lt, mt)) in enumerate(zip(se, st)):
        _close(le, lt)
        _close(me, mt)
    _close([g['lr'] for g in oe.param_groups], [g['lr'] for g in ot.param_groups])
    assert sorted(oe.param_groups[0]) == sorted(ot.param_groups[0])


@needs_torch
@pytest.mark.parametrize('name', ['StepLR', 'MultiStepLR', 'ExponentialLR', 'CosineAnnealingLR', 'LinearLR',
                                  'ConstantLR', 'PolynomialLR'])
def test_epoch_argument_uses_closed_form(name):
    out = []
    for fw in (ember, torch):
        build, kind, _ = CASES[name]
        opt = _opt(fw, kind)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            sched = build(fw, opt)
            lrs = []
            for e in (3, 7, 1, 12, 12, 20):
                opt.step()
                sched.step(e)
                lrs.append(list(sched.get_last_lr()))
        out.append(lrs)
    _close(out[0], out[1])


@needs_torch
def test_warm_restarts_fractional_epochs():
    out = []
    for fw in (ember, torch):
        opt = _opt(fw)
        sched = fw.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=0.001)
        lrs = []
        for i in range(40):
            opt.step()
            sched.step(i * 0.7)
            lrs.append((list(sched.get_last_lr()), sched.T_cur, sched.T_i, sched.last_epoch))
        out.append(lrs)
    for a, b in zip(*out):
        _close(a[0], b[0])
        assert a[1:] == pytest.approx(b[1:])


# (metric sequence, kwargs) for ReduceLROnPlateau
PLATEAU = [
    dict(),
    dict(mode='max', factor=0.5, patience=2),
    dict(patience=1, threshold=0.05, threshold_mode='abs', cooldown=2),
    dict(patience=0, factor=0.5, min_lr=[0.02, 0.03]),
    dict(patience=1, factor=0.5, min_lr=0.04, eps=0.01),
    dict(mode='max', threshold_mode='abs', threshold=0.1, patience=3, cooldown=1),
]


@needs_torch
@pytest.mark.parametrize('kw', PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_reduce_lr_on_plateau_matches_pytorch(kw):
    rng = np.random.default_rng(0)
    metrics = list(1.0 / (1 + np.arange(60) * 0.05) + rng.random(60) * 0.2)
    metrics[20:40] = [0.5] * 20
    out = []
    for fw in (ember, torch):
        opt = _opt(fw, 'SGD')
        sched = fw.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
        lrs = []
        for m in metrics:
            opt.step()
            sched.step(fw.tensor(m) if len(lrs) % 2 else m)
            lrs.append((list(sched.get_last_lr()), sched.num_bad_epochs, sched.cooldown_counter, sched.best))
        out.append(lrs)
    for a, b in zip(*out):
        _close(a[0], b[0])
        assert a[1:3] == b[1:3]
        assert a[3] == pytest.approx(b[3])


@needs_torch
def test_state_dict_keys_match_pytorch():
    for name in ('StepLR', 'CosineAnnealingLR', 'OneCycleLR-cos', 'LambdaLR', 'CosineAnnealingWarmRestarts'):
        _, _, se = _sequence(ember, name)
        _, _, st = _sequence(torch, name)
        de, dt = se.state_dict(), st.state_dict()
        common = {'last_epoch', 'base_lrs', '_last_lr', '_step_count'}
        assert common <= set(de) and common <= set(dt)
        for k in common:
            assert de[k] == pytest.approx(dt[k])
    opt = _opt(ember)
    assert set(elrs.ReduceLROnPlateau(opt).state_dict()) >= {'best', 'num_bad_epochs', 'patience', 'mode',
                                                             'last_epoch', '_last_lr'}


def test_state_dict_round_trip():
    for name in ('StepLR', 'CosineAnnealingLR', 'OneCycleLR-cos', 'CosineAnnealingWarmRestarts', 'SequentialLR',
                 'LambdaLR', 'ChainedScheduler'):
        build, kind, steps = CASES[name]
        opt = _opt(ember, kind)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            sched = build(ember, opt)
            for _ in range(steps // 2):
                opt.step()
                sched.step()
            sd = copy.deepcopy(sched.state_dict())
            opt_sd = copy.deepcopy(opt.state_dict())
            ref = []
            for _ in range(steps // 2 - 1):
                opt.step()
                sched.step()
                ref.append(list(sched.get_last_lr()))
            opt2 = _opt(ember, kind)
            sched2 = build(ember, opt2)
            opt2.load_state_dict(opt_sd)
            sched2.load_state_dict(sd)
            got = []
            for _ in range(steps // 2 - 1):
                opt2.step()
                sched2.step()
                got.append(list(sched2.get_last_lr()))
        _close(got, ref)


def test_lambda_state_dict_saves_callable_objects():
    class Fn:
        def __init__(self):
            self.k = 0.5

        def __call__(self, e):
            return self.k ** e
    opt = _opt(ember)
    sched = elrs.LambdaLR(opt, [Fn(), lambda e: 1.0])
    sd = sched.state_dict()
    assert sd['lr_lambdas'] == [{'k': 0.5}, None]
    sd['lr_lambdas'][0]['k'] = 0.25
    sched.load_state_dict(sd)
    assert sched.lr_lambdas[0].k == 0.25


def test_resume_with_last_epoch():
    opt = _opt(ember)
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups\\[0\\]"):
        elrs.StepLR(opt, step_size=2, last_epoch=5)
    sched = elrs.ExponentialLR(opt, gamma=0.5)
    opt.step()
    sched.step()
    sched2 = elrs.ExponentialLR(opt, gamma=0.5, last_epoch=1)
    assert sched2.base_lrs == [0.1, 0.05]
    assert sched2.last_epoch == 2


def test_warnings():
    opt = _opt(ember)
    sched = elrs.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r'Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`'):
        sched.step()
    with pytest.warns(UserWarning, match='please use `get_last_lr\\(\\)`'):
        sched.get_lr()
    opt2 = _opt(ember)
    sched2 = elrs.StepLR(opt2, step_size=2, verbose=True)  # verbose is accepted and ignored
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        sched2.step()
    with pytest.warns(UserWarning, match='epoch parameter in `scheduler.step\\(\\)` was not necessary'):
        sched2.step(5)


def test_errors():
    opt = _opt(ember)
    with pytest.raises(TypeError, match='is not an Optimizer'):
        elrs.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match='Expected 2 lr_lambdas, but got 1'):
        elrs.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match='Constant multiplicative factor expected to be between 0 and 1.'):
        elrs.ConstantLR(opt, factor=2)
    with pytest.raises(ValueError, match='Starting multiplicative factor expected to be greater than 0'):
        elrs.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match='Expected positive integer T_0, but got 0'):
        elrs.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match='Expected integer T_mult >= 1, but got 0'):
        elrs.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match='You must define either total_steps OR'):
        elrs.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match='Expected positive integer total_steps, but got 0'):
        elrs.OneCycleLR(opt, max_lr=0.1, total_steps=0)
    with pytest.raises(ValueError, match='max_lr must have the same length as optimizer.param_groups'):
        elrs.OneCycleLR(opt, max_lr=[0.1], total_steps=10)
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear', instead got x"):
        elrs.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy='x')
    with pytest.raises(ValueError, match='Expected float between 0 and 1 pct_start, but got 2'):
        elrs.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=2)
    p = ember.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match='optimizer must support momentum or beta1'):
        elrs.OneCycleLR(eoptim.Adagrad([p]), max_lr=0.1, total_steps=10)
    sched = elrs.OneCycleLR(_opt(ember), max_lr=0.1, total_steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for _ in range(3):
            sched.step()
        with pytest.raises(ValueError, match='Tried to step 4 times. The specified number of total steps is 3'):
            sched.step()
    with pytest.raises(ValueError, match='Factor should be < 1.0.'):
        elrs.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match='mode foo is unknown!'):
        elrs.ReduceLROnPlateau(opt, mode='foo')
    with pytest.raises(ValueError, match='threshold mode foo is unknown!'):
        elrs.ReduceLROnPlateau(opt, threshold_mode='foo')
    with pytest.raises(ValueError, match='expected 2 min_lrs, got 3'):
        elrs.ReduceLROnPlateau(opt, min_lr=[0, 0, 0])
    s1 = elrs.StepLR(opt, 2)
    with pytest.raises(ValueError, match='number of milestone points'):
        elrs.SequentialLR(opt, [s1, elrs.StepLR(opt, 3)], milestones=[1, 2])
    with pytest.raises(ValueError, match='expects all schedulers to belong to the same optimizer'):
        elrs.SequentialLR(opt, [s1, elrs.StepLR(_opt(ember), 3)], milestones=[1])
    with pytest.raises(ValueError, match='does not support `ReduceLROnPlateau`'):
        elrs.ChainedScheduler([s1, elrs.ReduceLROnPlateau(opt)])


def test_training_loop_with_scheduler_and_module():
    """The documented pattern: optimizer.step() then scheduler.step(), with an nn module."""
    model = ember.nn.Linear(3, 1)
    opt = eoptim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = elrs.OneCycleLR(opt, max_lr=0.2, total_steps=20)
    x = ember.randn(8, 3)
    y = x.sum(1, keepdim=True)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        for _ in range(20):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()
    assert math.isfinite(loss.item()) and loss.item() < 1.0


@needs_torch
@pytest.mark.parametrize('kw', [dict(swa_lr=0.05), dict(swa_lr=[0.01, 0.3], anneal_epochs=4,
                                                         anneal_strategy='linear'),
                                dict(swa_lr=0.05, anneal_epochs=0)], ids=['cos', 'linear', 'no-anneal'])
def test_swalr_matches_pytorch(kw):
    out = []
    for fw in (ember, torch):
        opt = _opt(fw)
        sched = fw.optim.swa_utils.SWALR(opt, **kw)
        lrs = [list(sched.get_last_lr())]
        for _ in range(15):
            opt.step()
            sched.step()
            lrs.append(list(sched.get_last_lr()))
        out.append(lrs)
    _close(out[0], out[1])


class _Scale:
    """A callable object: schedulers save its ``__dict__`` (a plain function is saved as None)."""

    def __init__(self):
        self.k = 0.5

    def __call__(self, x):
        return self.k ** x


def _composite(fw):
    p = fw.zeros(2, requires_grad=True)
    S = fw.optim.lr_scheduler
    o = fw.optim.SGD([p], lr=0.1, momentum=0.9)
    o2 = fw.optim.SGD([p], lr=0.1)
    o3 = fw.optim.SGD([p], lr=0.1)
    return {'LambdaLR': S.LambdaLR(o, [_Scale()]),
            'CyclicLR': S.CyclicLR(fw.optim.SGD([p], lr=0.1, momentum=0.9), 0.01, 0.1, scale_fn=_Scale()),
            'ReduceLROnPlateau': S.ReduceLROnPlateau(fw.optim.SGD([p], lr=0.1), mode='max'),
            'SequentialLR': S.SequentialLR(o2, [S.StepLR(o2, 2), S.ExponentialLR(o2, 0.9)], [3]),
            'ChainedScheduler': S.ChainedScheduler([S.StepLR(o3, 2), S.MultiplicativeLR(o3, _Scale())])}


@needs_torch
def test_state_dicts_of_every_form_match_pytorch():
    """Keys in PyTorch's order; callable objects saved as their __dict__; inner schedulers as their state dicts."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        mine, theirs = _composite(ember), _composite(torch)
    for name in mine:
        de, dt = mine[name].state_dict(), theirs[name].state_dict()
        assert list(de) == list(dt), name
    assert mine['LambdaLR'].state_dict()['lr_lambdas'] == [{'k': 0.5}]
    assert mine['CyclicLR'].state_dict()['_scale_fn_custom'] == {'k': 0.5}
    inner = mine['ChainedScheduler'].state_dict()['_schedulers']
    assert [list(s) for s in inner] == [list(s) for s in theirs['ChainedScheduler'].state_dict()['_schedulers']]
    assert inner[1]['lr_lambdas'] == [{'k': 0.5}]


def test_state_dicts_of_every_form_load_back():
    """load_state_dict restores plain attributes, updates callable objects and inner schedulers in place, and
    rebuilds what derives from the options (ReduceLROnPlateau's comparison, CyclicLR's scale function)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        src, dst = _composite(ember), _composite(ember)
        for s in src.values():
            for _ in range(4):
                s.step(1.0) if isinstance(s, elrs.ReduceLROnPlateau) else s.step()
    for name, s in src.items():
        sd = copy.deepcopy(s.state_dict())
        if name in ('LambdaLR', 'CyclicLR'):
            key = 'lr_lambdas' if name == 'LambdaLR' else '_scale_fn_custom'
            (sd[key][0] if name == 'LambdaLR' else sd[key])['k'] = 0.25
        dst[name].load_state_dict(sd)
        assert getattr(dst[name], 'last_epoch', None) == getattr(s, 'last_epoch', None), name
    assert dst['LambdaLR'].lr_lambdas[0].k == 0.25
    assert dst['CyclicLR']._scale_fn_custom.k == 0.25 and dst['CyclicLR'].scale_fn(2) == 0.0625
    assert dst['ReduceLROnPlateau'].mode_worse == -math.inf and dst['ReduceLROnPlateau'].best == 1.0
    assert [s.last_epoch for s in dst['SequentialLR']._schedulers] == \
        [s.last_epoch for s in src['SequentialLR']._schedulers]
    assert dst['ChainedScheduler']._schedulers[1].last_epoch == 4
