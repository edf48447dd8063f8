"""ember.optim optimizers: PyTorch parity of every update rule and option, state dicts, param groups, hooks, errors."""
import copy
import warnings

import numpy as np
import pytest

import ember
import ember.optim as eoptim
from conftest import torch, needs_torch

SHAPES = [(3, 4), (5,), (2, 3, 2), (7,), (1,)]
STEPS = 8  # enough for RAdam to pass from its unrectified to its rectified regime

# (optimizer name, options): every option combination whose math differs
CASES = [
    ('SGD', dict(lr=0.1)),
    ('SGD', dict(lr=0.1, momentum=0.9)),
    ('SGD', dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ('SGD', dict(lr=0.1, momentum=0.9, nesterov=True)),
    ('SGD', dict(lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)),
    ('SGD', dict(lr=0.05, weight_decay=0.1)),
    ('SGD', dict(lr=0.05, maximize=True)),
    ('Adam', dict()),
    ('Adam', dict(lr=0.05)),
    ('Adam', dict(lr=0.05, amsgrad=True)),
    ('Adam', dict(lr=0.05, weight_decay=0.1)),
    ('Adam', dict(lr=0.05, maximize=True)),
    ('Adam', dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True)),
    ('Adam', dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ('Adam', dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3)),
    ('AdamW', dict(lr=0.05)),
    ('AdamW', dict(lr=0.05, amsgrad=True, weight_decay=0.2)),
    ('AdamW', dict(lr=0.05, maximize=True)),
    ('Adagrad', dict(lr=0.1)),
    ('Adagrad', dict(lr=0.1, lr_decay=0.05)),
    ('Adagrad', dict(lr=0.1, initial_accumulator_value=0.3, eps=1e-3)),
    ('Adagrad', dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ('RMSprop', dict(lr=0.01)),
    ('RMSprop', dict(lr=0.01, alpha=0.9, eps=1e-4)),
    ('RMSprop', dict(lr=0.01, centered=True)),
    ('RMSprop', dict(lr=0.01, momentum=0.9)),
    ('RMSprop', dict(lr=0.01, centered=True, momentum=0.8, weight_decay=0.1)),
    ('RMSprop', dict(lr=0.01, maximize=True, weight_decay=0.1)),
    ('Adadelta', dict()),
    ('Adadelta', dict(lr=0.5, rho=0.5, weight_decay=0.1)),
    ('Adadelta', dict(lr=0.5, maximize=True, eps=1e-3)),
    ('Adamax', dict(lr=0.05)),
    ('Adamax', dict(lr=0.05, weight_decay=0.1)),
    ('Adamax', dict(lr=0.05, maximize=True, betas=(0.5, 0.8))),
    ('NAdam', dict(lr=0.05)),
    ('NAdam', dict(lr=0.05, momentum_decay=0.02)),
    ('NAdam', dict(lr=0.05, weight_decay=0.1)),
    ('NAdam', dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ('NAdam', dict(lr=0.05, maximize=True)),
    ('RAdam', dict(lr=0.05)),
    ('RAdam', dict(lr=0.05, weight_decay=0.1)),
    ('RAdam', dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ('RAdam', dict(lr=0.05, maximize=True, betas=(0.8, 0.9))),
]


def _ids(case):
    name, kw = case
    return name + ('-' + '-'.join(f'{k}={v}' for k, v in kw.items()) if kw else '')


def _init(shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _grads(step, shapes, values, seed=1):
    """A gradient that depends on the parameters (a quadratic pull) plus fixed noise for this step."""
    rng = np.random.default_rng(seed * 1000 + step)
    return [0.5 * v + rng.standard_normal(s) for s, v in zip(shapes, values)]


def _fw_tensor(fw, arr, dtype, requires_grad=False):
    if fw is ember:
        return ember.tensor(arr, dtype=getattr(ember, dtype), requires_grad=requires_grad)
    return torch.tensor(arr, dtype=getattr(torch, dtype), requires_grad=requires_grad)


def _np(t):
    if isinstance(t, ember.Tensor):
        return np.array(t.detach().numpy(), dtype=np.float64)
    return t.detach().numpy().astype(np.float64)


def _trajectory(fw, name, kw, dtype, steps=STEPS, shapes=SHAPES, small=None, none_grads=()):
    """Run ``steps`` updates; returns (params after each step, optimizer, params)."""
    ps = [_fw_tensor(fw, a, dtype, True) for a in _init(shapes)]
    opt = getattr(fw.optim, name)(ps, **kw)
    if small is not None:
        opt._small = small
    out = []
    for k in range(steps):
        gs = _grads(k, shapes, [_np(p) for p in ps])
        for i, (p, g) in enumerate(zip(ps, gs)):
            p.grad = None if (k, i) in none_grads else _fw_tensor(fw, g, dtype)
        opt.step()
        out.append([_np(p) for p in ps])
    return out, opt, ps


def _assert_close_traj(a, b, tol):
    for k, (sa, sb) in enumerate(zip(a, b)):
        for i, (x, y) in enumerate(zip(sa, sb)):
            np.testing.assert_allclose(x, y, rtol=tol, atol=tol, err_msg=f'step {k}, param {i}')


def _assert_state_close(se, st, tol):
    """An ember optimizer's state_dict matches a PyTorch one: same structure, group options and values."""
    assert se['param_groups'] == st['param_groups']
    assert list(se['state']) == list(st['state'])
    for idx in st['state']:
        ae, at = se['state'][idx], st['state'][idx]
        assert list(ae) == list(at), (list(ae), list(at))
        for k in at:
            if isinstance(at[k], torch.Tensor):
                assert isinstance(ae[k], ember.Tensor)
                assert tuple(ae[k].shape) == tuple(at[k].shape)
                assert ae[k].dtype.name == str(at[k].dtype).replace('torch.', ''), k
                np.testing.assert_allclose(_np(ae[k]), _np(at[k]), rtol=tol, atol=tol, err_msg=k)
            else:
                assert ae[k] == at[k]


@needs_torch
@pytest.mark.parametrize('dtype, small', [('float32', None), ('float32', 0), ('float32', 6), ('float64', None),
                                          ('float64', 0)],
                         ids=['packed-float32', 'direct-float32', 'mixed-float32', 'packed-float64',
                              'direct-float64'])
@pytest.mark.parametrize('case', CASES, ids=_ids)
def test_parity_with_pytorch(case, small, dtype):
    """Parameters small enough are updated packed into flat buffers, the others in place ('direct'); either
    way the trajectory and the state equal PyTorch's."""
    name, kw = case
    tol = 1e-5 if dtype == 'float32' else 1e-10
    te, oe, _ = _trajectory(ember, name, kw, dtype, small=small)
    tt, ot, _ = _trajectory(torch, name, kw, dtype)
    _assert_close_traj(te, tt, tol)
    _assert_state_close(oe.state_dict(), ot.state_dict(), tol)


@needs_torch
@pytest.mark.parametrize('case', [c for c in CASES if c[1].get('lr', 0) != 0.1 or c[0] != 'SGD'][::3], ids=_ids)
def test_parity_with_missing_gradients(case):
    """Parameters without a gradient on a step are skipped (their state is not advanced), in packs too."""
    name, kw = case
    none = {(0, 1), (1, 1), (2, 0), (3, 3), (5, 0), (5, 1), (6, 4), (7, 2)}
    te, oe, _ = _trajectory(ember, name, kw, 'float64', none_grads=none)
    tt, ot, _ = _trajectory(torch, name, kw, 'float64', none_grads=none)
    _assert_close_traj(te, tt, 1e-10)
    _assert_state_close(oe.state_dict(), ot.state_dict(), 1e-10)


@pytest.mark.parametrize('case', CASES[1::2], ids=_ids)
def test_state_dict_round_trip_reproduces_trajectory(case):
    name, kw = case
    ps = [ember.tensor(a, requires_grad=True) for a in _init()]
    opt = getattr(eoptim, name)(ps, **kw)
    for k in range(4):
        for p, g in zip(ps, _grads(k, SHAPES, [_np(p) for p in ps])):
            p.grad = ember.tensor(g, dtype=ember.float32)
        opt.step()
    sd = copy.deepcopy(opt.state_dict())
    ps2 = [ember.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ps]
    opt2 = getattr(eoptim, name)(ps2, **kw)
    opt2.load_state_dict(opt.state_dict())  # no deepcopy: the two must still not share state
    for k in range(4, 9):
        for pa, pb, g in zip(ps, ps2, _grads(k, SHAPES, [_np(p) for p in ps])):
            pa.grad = ember.tensor(g, dtype=ember.float32)
            pb.grad = ember.tensor(g, dtype=ember.float32)
        opt.step()
        opt2.step()
        for pa, pb in zip(ps, ps2):
            np.testing.assert_array_equal(pa.detach().numpy(), pb.detach().numpy())
    # the deep copy taken earlier is untouched by later steps
    assert (sd['state'] == {}) == (name == 'SGD' and not kw.get('momentum'))
    if sd['state'] and 'step' in sd['state'][0]:
        assert sd['state'][0]['step'].item() == 4


def _to_torch_sd(sd):
    def conv(v):
        if isinstance(v, ember.Tensor):
            return torch.tensor(v.detach().numpy().copy())
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v
    return conv(sd)


def _to_ember_sd(sd):
    def conv(v):
        if isinstance(v, torch.Tensor):
            return ember.tensor(v.detach().numpy().copy())
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v
    return conv(sd)


@needs_torch
@pytest.mark.parametrize('case', CASES[2::3], ids=_ids)
def test_state_dicts_interchange_with_pytorch(case):
    """A PyTorch state_dict (tensors converted) loads into ember and continues PyTorch's trajectory; and back."""
    name, kw = case
    _, ot, pt = _trajectory(torch, name, kw, 'float64', steps=5)
    pe = [ember.tensor(_np(p), dtype=ember.float64, requires_grad=True) for p in pt]
    oe = getattr(eoptim, name)(pe, **kw)
    oe.load_state_dict(_to_ember_sd(ot.state_dict()))
    pt2 = [torch.tensor(_np(p), requires_grad=True) for p in pt]
    ot2 = getattr(torch.optim, name)(pt2, **kw)
    ot2.load_state_dict(_to_torch_sd(oe.state_dict()))
    for k in range(5, 10):
        gs = _grads(k, SHAPES, [_np(p) for p in pt])
        for ps, fw in ((pt, torch), (pe, ember), (pt2, torch)):
            for p, g in zip(ps, gs):
                p.grad = _fw_tensor(fw, g, 'float64')
        ot.step()
        oe.step()
        ot2.step()
    for a, b, c in zip(pt, pe, pt2):
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(_np(c), _np(a), rtol=1e-10, atol=1e-10)


def test_load_state_dict_casts_to_parameter_dtype():
    p = ember.randn(4, requires_grad=True)
    p.grad = ember.ones(4)
    src = eoptim.Adam([ember.randn(4, dtype=ember.float64, requires_grad=True)])
    src.param_groups[0]['params'][0].grad = ember.ones(4, dtype=ember.float64)
    src.step()
    dst = eoptim.Adam([p], lr=0.5)
    dst.load_state_dict(src.state_dict())
    st = dst.state[p]
    assert st['exp_avg'].dtype == ember.float32 and st['step'].dtype == ember.float32
    assert dst.param_groups[0]['lr'] == 0.001 and dst.param_groups[0]['params'][0] is p
    dst.step()
    assert st['step'].item() == 2 if 'step' in dst.state[p] else True
    assert dst.state[p]['step'].item() == 2


def test_old_style_float_step_is_converted():
    p = ember.randn(3, requires_grad=True)
    opt = eoptim.Adam([p])
    sd = {'state': {0: {'step': 3, 'exp_avg': ember.zeros(3), 'exp_avg_sq': ember.zeros(3)}},
          'param_groups': [{'lr': 0.01, 'betas': (0.9, 0.999), 'eps': 1e-8, 'weight_decay': 0, 'amsgrad': False,
                            'params': [0]}]}
    opt.load_state_dict(sd)
    assert isinstance(opt.state[p]['step'], ember.Tensor) and opt.state[p]['step'].item() == 3
    assert opt.param_groups[0]['maximize'] is False  # missing options are filled from the defaults
    p.grad = ember.ones(3)
    opt.step()
    assert opt.state[p]['step'].item() == 4


@needs_torch
def test_state_replaced_or_edited_by_user_is_used():
    """Replacing a state tensor, or editing it in place, takes effect at the next step (packed state too)."""
    runs = []
    for fw in (ember, torch):
        ps = [_fw_tensor(fw, a, 'float64', True) for a in _init()]
        opt = fw.optim.Adam(ps, lr=0.05)
        for k in range(6):
            for p, g in zip(ps, _grads(k, SHAPES, [_np(p) for p in ps])):
                p.grad = _fw_tensor(fw, g, 'float64')
            opt.step()
            if k == 1:
                opt.state[ps[0]]['exp_avg'] = _fw_tensor(fw, np.full(SHAPES[0], 0.25), 'float64')
            if k == 2:
                opt.state[ps[1]]['exp_avg_sq'].mul_(3.0)
                opt.state[ps[2]]['step'].fill_(10)
            if k == 3:
                with fw.no_grad():
                    ps[3].mul_(0.5)
        runs.append([_np(p) for p in ps])
    _assert_close_traj([runs[0]], [runs[1]], 1e-10)


@needs_torch
def test_parameter_data_reassigned():
    runs = []
    for fw in (ember, torch):
        ps = [_fw_tensor(fw, a, 'float32', True) for a in _init()]
        opt = fw.optim.SGD(ps, lr=0.1, momentum=0.9)
        for k in range(5):
            for p, g in zip(ps, _grads(k, SHAPES, [_np(p) for p in ps])):
                p.grad = _fw_tensor(fw, g, 'float32')
            opt.step()
            if k == 2:
                ps[0].data = _fw_tensor(fw, np.ones(SHAPES[0]), 'float32')
        runs.append([_np(p) for p in ps])
    _assert_close_traj([runs[0]], [runs[1]], 1e-6)


def test_updates_in_place_without_graph():
    ps = [ember.randn(*s, requires_grad=True) for s in SHAPES] + [ember.randn(200, 200, requires_grad=True)]
    ids = [id(p) for p in ps]
    arrays = [p._data for p in ps]
    versions = [p._version for p in ps]
    opt = eoptim.Adam(ps, lr=0.1)
    loss = sum((p * p).sum() for p in ps)
    loss.backward()
    opt.step()
    for p, i, a, v in zip(ps, ids, arrays, versions):
        assert id(p) == i and p._data is a and p._version > v
        assert p.grad_fn is None and p.requires_grad and p.is_leaf
    # a second backward through a fresh graph still works after the in-place update
    opt.zero_grad()
    sum((p * p).sum() for p in ps).backward()
    opt.step()


def test_adagrad_initialises_state_eagerly():
    p = ember.randn(3, requires_grad=True)
    opt = eoptim.Adagrad([p], initial_accumulator_value=0.5)
    st = opt.state_dict()['state'][0]
    assert st['step'].item() == 0 and np.allclose(st['sum'].numpy(), 0.5)


def test_sgd_without_momentum_keeps_no_state():
    p = ember.randn(3, requires_grad=True)
    p.grad = ember.ones(3)
    opt = eoptim.SGD([p], lr=0.1)
    opt.step()
    assert opt.state_dict()['state'] == {}


# ---- param groups and the base class ------------------------------------------------------------------------------

@needs_torch
def test_param_groups_with_own_options():
    runs = []
    for fw in (ember, torch):
        ps = [_fw_tensor(fw, a, 'float64', True) for a in _init()]
        opt = fw.optim.SGD([{'params': ps[:2]}, {'params': ps[2:4], 'lr': 0.5, 'momentum': 0.5}], lr=0.1,
                           momentum=0.9)
        for k in range(6):
            if k == 3:
                opt.add_param_group({'params': [ps[4]], 'nesterov': True})
            for p, g in zip(ps, _grads(k, SHAPES, [_np(p) for p in ps])):
                p.grad = _fw_tensor(fw, g, 'float64')
            opt.step()
        runs.append(([_np(p) for p in ps], repr(opt), opt.state_dict()['param_groups']))
    _assert_close_traj([runs[0][0]], [runs[1][0]], 1e-12)
    assert runs[0][1] == runs[1][1]
    assert runs[0][2] == runs[1][2]


@needs_torch
@pytest.mark.parametrize('name', ['SGD', 'Adam', 'AdamW', 'Adagrad', 'RMSprop', 'Adadelta', 'Adamax', 'NAdam',
                                  'RAdam', 'LBFGS'])
def test_repr_and_defaults_match_pytorch(name):
    pe, pt = ember.randn(2, requires_grad=True), torch.randn(2, requires_grad=True)
    oe, ot = getattr(eoptim, name)([pe]), getattr(torch.optim, name)([pt])
    assert repr(oe) == repr(ot)
    assert oe.defaults == ot.defaults
    assert oe.state_dict() == {'state': {}, 'param_groups': ot.state_dict()['param_groups']} or name == 'Adagrad'


def test_named_parameters():
    a, b = ember.randn(2, requires_grad=True), ember.randn(3, requires_grad=True)
    opt = eoptim.Adam([('a', a), ('b', b)])
    assert opt.param_groups[0]['params'] == [a, b] or all(x is y for x, y in zip(opt.param_groups[0]['params'],
                                                                                  [a, b]))
    assert opt.param_groups[0]['param_names'] == ['a', 'b']
    assert opt.state_dict()['param_groups'][0]['param_names'] == ['a', 'b']
    with pytest.raises(ValueError, match='with/without names'):
        opt.add_param_group({'params': [ember.randn(2, requires_grad=True)]})


def test_errors_match_pytorch():
    p = ember.randn(3, requires_grad=True)
    with pytest.raises(TypeError, match='params argument given to the optimizer should be an iterable of Tensors '
                                        'or dicts, but got torch.FloatTensor'):
        eoptim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match='optimizer got an empty parameter list'):
        eoptim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match='Invalid learning rate: -1'):
        eoptim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match='Invalid momentum value: -1'):
        eoptim.SGD([p], momentum=-1)
    with pytest.raises(ValueError, match='Nesterov momentum requires a momentum and zero dampening'):
        eoptim.SGD([p], nesterov=True)
    with pytest.raises(ValueError, match='some parameters appear in more than one parameter group'):
        eoptim.SGD([{'params': [p]}, {'params': [p]}])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        eoptim.SGD([p * 2])
    with pytest.raises(TypeError, match='optimizer can only optimize Tensors, but one of the params is float'):
        eoptim.SGD([1.0])
    with pytest.raises(TypeError, match='param_group must be a dict'):
        eoptim.SGD([p]).add_param_group([p])
    with pytest.raises(TypeError, match='ordered collections'):
        eoptim.SGD([p]).add_param_group({'params': {ember.randn(2, requires_grad=True)}})
    with pytest.raises(ValueError, match='Invalid beta parameter at index 0: 1.0'):
        eoptim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match='Invalid beta parameter at index 1: 1.5'):
        eoptim.Adam([p], betas=(0.9, 1.5))
    with pytest.raises(ValueError, match='Invalid epsilon value: -1'):
        eoptim.Adam([p], eps=-1)
    with pytest.raises(ValueError, match='Invalid weight_decay value: -1'):
        eoptim.AdamW([p], weight_decay=-1)
    with pytest.raises(ValueError, match='Invalid lr_decay value: -1'):
        eoptim.Adagrad([p], lr_decay=-1)
    with pytest.raises(ValueError, match='Invalid initial_accumulator_value value: -1'):
        eoptim.Adagrad([p], initial_accumulator_value=-1)
    with pytest.raises(ValueError, match='Invalid alpha value: -1'):
        eoptim.RMSprop([p], alpha=-1)
    with pytest.raises(ValueError, match='Invalid rho value: 1.5'):
        eoptim.Adadelta([p], rho=1.5)
    with pytest.raises(ValueError, match='Invalid momentum_decay value: -1'):
        eoptim.NAdam([p], momentum_decay=-1)
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        eoptim.LBFGS([{'params': [p]}, {'params': [ember.randn(2, requires_grad=True)]}])
    with pytest.raises(ValueError, match="parameter group didn't specify a value of required optimization "
                                         'parameter lr'):
        eoptim.Optimizer([p], {'lr': eoptim.optimizer.required})
    assert repr(eoptim.optimizer.required) == '<required parameter>'
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        eoptim.SGD([p, p], lr=0.1)
    assert any('duplicate parameters' in str(x.message) for x in w)
    o1 = eoptim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match='different number of parameter groups'):
        o1.load_state_dict(eoptim.SGD([{'params': [p]}, {'params': [ember.randn(2, requires_grad=True)]}],
                                      lr=0.1).state_dict())
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        o1.load_state_dict(eoptim.SGD([p, ember.randn(2, requires_grad=True)], lr=0.1).state_dict())


def test_zero_grad():
    p = ember.randn(3, requires_grad=True)
    opt = eoptim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and np.all(g.numpy() == 0) and not g.requires_grad
    opt.zero_grad()
    assert p.grad is None


def test_step_closure_and_hooks():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    opt = eoptim.SGD([p], lr=0.1)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        calls.append('closure')
        return loss
    h1 = opt.register_step_pre_hook(lambda o, a, k: calls.append('pre'))
    h2 = opt.register_step_post_hook(lambda o, a, k: calls.append('post'))
    h3 = eoptim.register_optimizer_step_pre_hook(lambda o, a, k: calls.append('global-pre'))
    with ember.no_grad():  # the closure still runs with grad enabled
        loss = opt.step(closure)
    assert loss.item() == 5.0
    assert calls == ['global-pre', 'pre', 'closure', 'post']
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)
    h1.remove()
    h2.remove()
    h3.remove()
    calls.clear()
    opt.step(closure)
    assert calls == ['closure']
    # a pre hook may replace the arguments
    opt.register_step_pre_hook(lambda o, a, k: ((), {'closure': closure}))
    calls.clear()
    opt.step()
    assert calls == ['closure']


def test_state_dict_hooks():
    p = ember.randn(2, requires_grad=True)
    opt = eoptim.Adam([p])
    seen = []
    opt.register_state_dict_pre_hook(lambda o: seen.append('pre'))
    opt.register_state_dict_post_hook(lambda o, sd: dict(sd, extra=1))
    opt.register_load_state_dict_pre_hook(lambda o, sd: seen.append('load-pre'))
    opt.register_load_state_dict_post_hook(lambda o: seen.append('load-post'))
    sd = opt.state_dict()
    assert sd['extra'] == 1
    opt.load_state_dict(sd)
    assert seen == ['pre', 'load-pre', 'load-post']


def test_deepcopy_and_pickle():
    import pickle
    ps = [ember.randn(*s, requires_grad=True) for s in SHAPES]
    opt = eoptim.Adam(ps, lr=0.1)
    for p in ps:
        p.grad = ember.ones(*p.shape)
    opt.step()
    opt2 = copy.deepcopy(opt)
    opt3 = pickle.loads(pickle.dumps(opt))
    for o in (opt2, opt3):
        new_ps = o.param_groups[0]['params']
        assert all(a is not b for a, b in zip(new_ps, ps))
        for p in new_ps:
            p.grad = ember.ones(*p.shape)
        o.step()
        assert o.state[new_ps[0]]['step'].item() == 2
    assert opt.state[ps[0]]['step'].item() == 1


def test_lr_as_tensor():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    p.grad = ember.ones(2)
    eoptim.Adam([p], lr=ember.tensor(0.1)).step()
    np.testing.assert_allclose(p.detach().numpy(), [0.9, 1.9], rtol=1e-5)


@needs_torch
def test_large_and_small_parameters_mixed():
    """Parameters above the packing threshold are updated in place, the rest packed; both match PyTorch."""
    shapes = [(300, 120), (120,), (40000,), (10, 3), (3,)]
    for name, kw in (('Adam', dict(lr=0.01, amsgrad=True)), ('SGD', dict(lr=0.1, momentum=0.9))):
        te, oe, _ = _trajectory(ember, name, kw, 'float32', steps=4, shapes=shapes)
        tt, ot, _ = _trajectory(torch, name, kw, 'float32', steps=4, shapes=shapes)
        _assert_close_traj(te, tt, 1e-5)
        _assert_state_close(oe.state_dict(), ot.state_dict(), 1e-5)


@needs_torch
@pytest.mark.parametrize('threads', [1, 3])
def test_threaded_updates(monkeypatch, threads):
    """Updates split over worker threads give PyTorch's results (each thread has its own scratch memory)."""
    from ember.optim import _threads as eopt
    monkeypatch.setattr(eopt, '_PARALLEL_MIN', 0)
    monkeypatch.setattr(eopt, '_ITEM_MIN', 0)  # test-sized items go to the workers too
    monkeypatch.setattr(eopt, '_ADAPT', False)  # always shared, however the timing goes
    before = eopt.get_num_threads()
    eopt.set_num_threads(threads)
    try:
        shapes = [(30, 12), (12,), (360,), (10, 3), (3,), (30, 12), (360,), (5, 5, 5)]
        for name, kw in (('Adam', dict(lr=0.01, amsgrad=True)), ('SGD', dict(lr=0.1, momentum=0.9)),
                         ('RMSprop', dict(lr=0.01, centered=True))):
            te, oe, _ = _trajectory(ember, name, kw, 'float32', steps=4, shapes=shapes, small=100)
            tt, ot, _ = _trajectory(torch, name, kw, 'float32', steps=4, shapes=shapes)
            _assert_close_traj(te, tt, 1e-5)
            _assert_state_close(oe.state_dict(), ot.state_dict(), 1e-5)
    finally:
        eopt.set_num_threads(before)


@needs_torch
def test_with_nn_modules():
    """A small ember.nn model trained with Adam and SGD follows the same PyTorch model step for step."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)
    for name, kw in (('Adam', dict(lr=0.01)), ('SGD', dict(lr=0.05, momentum=0.9, nesterov=True))):
        out = []
        for fw in (ember, torch):
            model = fw.nn.Sequential(fw.nn.Linear(5, 8), fw.nn.Tanh(), fw.nn.Linear(8, 2))
            with fw.no_grad():
                for i, p in enumerate(model.parameters()):
                    p.copy_(fw.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)).astype(np.float32)))
            opt = getattr(fw.optim, name)(model.parameters(), **kw)
            xs, ys = fw.tensor(x), fw.tensor(y)
            losses = []
            for _ in range(10):
                opt.zero_grad()
                loss = ((model(xs) - ys) ** 2).mean()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            out.append((losses, [_np(p) for p in model.parameters()]))
        np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5)
        _assert_close_traj([out[0][1]], [out[1][1]], 1e-5)


# ---- LBFGS ------------------------------------------------------------------------------------------------------

def _rosenbrock_run(fw, dtype, steps, **kw):
    x = _fw_tensor(fw, np.array([-1.5, 2.0]), dtype, True)
    w = _fw_tensor(fw, np.array([[0.3, -0.2], [0.1, 0.4]]), dtype, True)
    opt = fw.optim.LBFGS([x, w], **kw)

    def closure():
        opt.zero_grad()
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2 + ((w @ x - 1) ** 2).sum()
        loss.backward()
        return loss
    losses = [opt.step(closure).item() for _ in range(steps)]
    return losses, [_np(x), _np(w)], opt


def _logistic_run(fw, dtype, steps, **kw):
    rng = np.random.default_rng(3)
    a = _fw_tensor(fw, rng.standard_normal((20, 4)), dtype)
    y = _fw_tensor(fw, (rng.random(20) > 0.5).astype(np.float64), dtype)
    w = _fw_tensor(fw, rng.standard_normal(4), dtype, True)
    b = _fw_tensor(fw, np.zeros(1), dtype, True)
    opt = fw.optim.LBFGS([w, b], **kw)

    def closure():
        opt.zero_grad()
        z = a @ w + b
        loss = (fw.log(1 + fw.exp(z)) - y * z).mean() + 0.05 * (w * w).sum()
        loss.backward()
        return loss
    losses = [opt.step(closure).item() for _ in range(steps)]
    return losses, [_np(w), _np(b)], opt


@needs_torch
@pytest.mark.parametrize('kw', [dict(), dict(line_search_fn='strong_wolfe'), dict(history_size=3, max_iter=7),
                                dict(lr=0.5, history_size=2, line_search_fn='strong_wolfe', max_iter=5),
                                dict(tolerance_change=1e-3)],
                         ids=['plain', 'wolfe', 'short-history', 'wolfe-short', 'tolerance'])
def test_lbfgs_parity(kw):
    # Rosenbrock's valley amplifies rounding differences (of dot products) step after step: two steps of up to
    # max_iter iterations each stay well within tolerance; a well-conditioned problem is compared for longer
    le, pe, oe = _rosenbrock_run(ember, 'float64', 2, **kw)
    lt, pt, ot = _rosenbrock_run(torch, 'float64', 2, **kw)
    np.testing.assert_allclose(le, lt, rtol=1e-9, atol=1e-12)
    _assert_close_traj([pe], [pt], 1e-7)
    le, pe, _ = _logistic_run(ember, 'float64', 4, **kw)
    lt, pt, _ = _logistic_run(torch, 'float64', 4, **kw)
    np.testing.assert_allclose(le, lt, rtol=1e-10, atol=1e-12)
    _assert_close_traj([pe], [pt], 1e-9)
    se, st = oe.state_dict(), ot.state_dict()
    assert se['param_groups'] == st['param_groups']
    assert set(se['state'][0]) == set(st['state'][0])
    assert se['state'][0]['func_evals'] == st['state'][0]['func_evals']
    assert se['state'][0]['n_iter'] == st['state'][0]['n_iter']
    assert len(se['state'][0]['old_dirs']) == len(st['state'][0]['old_dirs'])


@needs_torch
def test_lbfgs_parity_float32():
    le, pe, _ = _rosenbrock_run(ember, 'float32', 2, line_search_fn='strong_wolfe', max_iter=10)
    lt, pt, _ = _rosenbrock_run(torch, 'float32', 2, line_search_fn='strong_wolfe', max_iter=10)
    np.testing.assert_allclose(le, lt, rtol=1e-5, atol=1e-5)
    _assert_close_traj([pe], [pt], 1e-4)


def test_lbfgs_state_dict_round_trip():
    le, pe, oe = _rosenbrock_run(ember, 'float64', 2, history_size=5, max_iter=4)
    x = ember.tensor(pe[0], requires_grad=True)
    w = ember.tensor(pe[1], requires_grad=True)
    opt = ember.optim.LBFGS([x, w], history_size=5, max_iter=4)
    opt.load_state_dict(oe.state_dict())
    xa, wa = oe.param_groups[0]['params']

    def make(xx, ww, o):
        def closure():
            o.zero_grad()
            loss = (1 - xx[0]) ** 2 + 100 * (xx[1] - xx[0] ** 2) ** 2 + ((ww @ xx - 1) ** 2).sum()
            loss.backward()
            return loss
        return closure
    for _ in range(2):
        oe.step(make(xa, wa, oe))
        opt.step(make(x, w, opt))
    np.testing.assert_allclose(x.detach().numpy(), xa.detach().numpy(), rtol=1e-12)


def test_lbfgs_errors():
    p = ember.randn(2, requires_grad=True)
    opt = ember.optim.LBFGS([p], line_search_fn='bogus')

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)
    with pytest.raises(TypeError):
        opt.step()


# ---- stochastic weight averaging ----------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize('kind', ['swa', 'ema-fn', 'ema-multi', 'buffers'])
def test_averaged_model_matches_pytorch(kind):
    out = []
    for fw in (ember, torch):
        su = fw.optim.swa_utils
        model = fw.nn.Sequential(fw.nn.Linear(3, 4), fw.nn.BatchNorm1d(4), fw.nn.Linear(4, 1))
        with fw.no_grad():
            for i, p in enumerate(model.parameters()):
                p.copy_(fw.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)).astype(np.float32)))
        kw = {'swa': {}, 'ema-fn': {'avg_fn': su.get_ema_avg_fn(0.9)},
              'ema-multi': {'multi_avg_fn': su.get_ema_multi_avg_fn(0.8)}, 'buffers': {'use_buffers': True}}[kind]
        avg = su.AveragedModel(model, **kw)
        opt = fw.optim.SGD(model.parameters(), lr=0.1)
        x = fw.tensor(np.random.default_rng(9).standard_normal((8, 3)).astype(np.float32))
        for _ in range(5):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
            avg.update_parameters(model)
        out.append(([_np(p) for p in avg.parameters()] + [_np(b) for b in avg.buffers()],
                    _np(avg(x))))
    _assert_close_traj([out[0][0]], [out[1][0]], 1e-5)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-5, atol=1e-5)


@needs_torch
def test_update_bn_matches_pytorch():
    out = []
    data = [np.random.default_rng(i).standard_normal((6, 3)).astype(np.float32) for i in range(4)]
    for fw in (ember, torch):
        model = fw.nn.Sequential(fw.nn.Linear(3, 4), fw.nn.BatchNorm1d(4))
        with fw.no_grad():
            for i, p in enumerate(model.parameters()):
                p.copy_(fw.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)).astype(np.float32)))
        model.eval()
        fw.optim.swa_utils.update_bn([(fw.tensor(d), 0) for d in data], model)
        assert not model.training and model[1].momentum == 0.1
        out.append([_np(model[1].running_mean), _np(model[1].running_var)])
    _assert_close_traj([out[0]], [out[1]], 1e-5)


def test_subclass_step_calling_super_runs_hooks_once():
    class Clipped(eoptim.SGD):
        def step(self, closure=None):
            for p in self.param_groups[0]['params']:
                p.grad.clamp_(-1, 1)
            return super().step(closure)
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    p.grad = ember.tensor([5.0, -0.5])
    opt = Clipped([p], lr=0.1)
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append('post'))
    opt.step()
    assert calls == ['post']
    np.testing.assert_allclose(p.detach().numpy(), [0.9, 2.05], rtol=1e-6)
