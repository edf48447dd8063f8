"""Autograd semantics: backward, accumulation, graph freeing, grad modes, hooks, grad(), Functions, checks."""
import numpy as np
import pytest

import ember
from _parity import torch, assert_parity, assert_same_outcome, outcome
from conftest import needs_torch, t64


# ---- backward basics ------------------------------------------------------------------------------------------------

def test_leaf_and_grad_fn():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    assert x.is_leaf and x.grad_fn is None and x.grad is None
    y = x * x
    assert y.requires_grad and not y.is_leaf and y.grad_fn.name() == 'MulBackward0'
    assert (x + 1).grad_fn.name() == 'AddBackward0'
    assert x.sum().grad_fn.name() == 'SumBackward0'
    acc = y.grad_fn.next_functions[0][0]
    assert acc.name() == 'AccumulateGrad' and acc.variable is x
    assert not (ember.ones(2) * 2).requires_grad


def test_backward_scalar_and_with_gradient():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    x.grad = None
    (x * 2).backward(ember.tensor([1.0, 3.0]))
    assert x.grad.tolist() == [2.0, 6.0]
    s = ember.tensor(2.0, requires_grad=True)
    s.backward()  # a leaf as the root
    assert s.grad.item() == 1.0


def test_accumulation_across_backward_calls():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        (x * x).sum().backward()
    assert x.grad.tolist() == [6.0, 12.0]
    x.grad.zero_()
    (3 * x).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_non_leaf_grad_is_none_unless_retained():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = x * 3
    z.retain_grad()
    assert z.retains_grad and not y.retains_grad and not x.retains_grad
    (y * y + z * z).sum().backward()
    assert y.grad is None
    assert z.grad.tolist() == [6.0, 12.0]
    assert x.grad.tolist() == [8.0 + 18.0, 16.0 + 36.0]
    with pytest.raises(RuntimeError, match='requires_grad=False'):
        ember.zeros(1).retain_grad()


def test_graph_freed_after_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match='backward through the graph a second time'):
        y.backward()
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [2.0 + 4.0, 4.0 + 8.0]
    e = x.exp().sum()  # the output is saved too
    e.backward()
    with pytest.raises(RuntimeError, match='retain_graph=True'):
        e.backward()


def test_graph_without_saved_tensors_can_run_twice():
    # PyTorch frees saved tensors, not the graph: a graph that saved none backpropagates again
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_graph_freeing_matches_torch():
    def run(lib, make):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = make(x)
        y.backward()
        try:
            y.backward()
        except RuntimeError:
            return 'raised'
        return x.grad.tolist()
    # (ember is more lenient where PyTorch saved only a Python scalar or a mask, e.g. (x * 2).sum() or relu: there
    # ember's second backward succeeds; every graph PyTorch accepts twice, ember accepts too)
    for make in (lambda x: (x + 1).sum(), lambda x: (x * x).sum(), lambda x: x.exp().sum(), lambda x: (x - 3).mean(),
                 lambda x: x.sigmoid().sum(), lambda x: x.reshape(2, 1).sum(), lambda x: x.abs().sum(),
                 lambda x: (x + x).t().sum(), lambda x: x[0], lambda x: (2 - x).neg().sum(), lambda x: (x ** 3).sum(),
                 lambda x: x.relu().sum(), lambda x: x.max(), lambda x: x.clamp(0, 1.5).sum(), lambda x: x @ x,
                 lambda x: x.softmax(0)[0], lambda x: x.unsqueeze(0).expand(3, 2).sum(), lambda x: x.flip(0)[0]):
        assert_same_outcome(lambda L: run(L, make))


def test_broadcast_grads_summed_back():
    a = ember.ones(2, 3, requires_grad=True)
    b = ember.ones(3, requires_grad=True)
    c = ember.ones(1, 3, requires_grad=True)
    s = ember.tensor(2.0, requires_grad=True)
    (a * b * c * s).sum().backward()
    assert a.grad.shape == (2, 3) and a.grad.tolist() == [[2.0] * 3] * 2
    assert b.grad.shape == (3,) and b.grad.tolist() == [4.0] * 3
    assert c.grad.shape == (1, 3) and c.grad.tolist() == [[4.0] * 3]
    assert s.grad.shape == () and s.grad.item() == 6.0


def test_broadcast_grads_match_torch():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in ((4, 1, 3), (2, 1), (3,), ())]
    assert_parity(lambda L, a, b, c, d: ((a * b + c) / (1.5 + d ** 2)).sin(), *arrays, rtol=1e-12, atol=0)


# ---- gradient ownership (_deliver_leaf) -----------------------------------------------------------------------------

def test_grad_not_shared_between_leaves():
    a = ember.ones(2, requires_grad=True)
    b = ember.ones(2, requires_grad=True)
    (a + b).sum().backward()
    a.grad.zero_()
    assert a.grad.tolist() == [0.0, 0.0] and b.grad.tolist() == [1.0, 1.0]
    c = a.clone()
    (c + b).sum().backward()
    b.grad.mul_(10)
    assert a.grad.tolist() == [1.0, 1.0] and b.grad.tolist() == [20.0, 20.0]


def test_grad_not_shared_with_seed_hook_or_retained():
    x = ember.ones(2, requires_grad=True)
    G = ember.tensor([1.0, 2.0])
    x.clone().backward(G)
    x.clone().backward(G)
    assert G.tolist() == [1.0, 2.0] and x.grad.tolist() == [2.0, 4.0]
    x.backward(G)  # the leaf itself as root
    assert G.tolist() == [1.0, 2.0] and x.grad.tolist() == [3.0, 6.0]

    kept = []
    w = ember.ones(2, requires_grad=True)
    w.register_hook(lambda g: kept.append(g))
    (w * 2).sum().backward()
    (w * 2).sum().backward()
    assert [k.tolist() for k in kept] == [[2.0, 2.0], [2.0, 2.0]] and w.grad.tolist() == [4.0, 4.0]

    v = ember.ones(2, requires_grad=True)
    y = v.clone()
    y.retain_grad()
    (y * 3).sum().backward()
    v.grad.zero_()
    assert y.grad.tolist() == [3.0, 3.0]
    y.grad.add_(1)
    assert v.grad.tolist() == [0.0, 0.0]


def test_accumulation_shared_broadcast_view_grads():
    a = ember.ones(2, requires_grad=True)
    (a + a).sum().backward()
    (a + a).sum().backward()
    assert a.grad.tolist() == [4.0, 4.0]

    a = ember.ones(2, requires_grad=True)
    b = ember.ones(3, 2, requires_grad=True)
    for _ in range(2):
        (a + b).sum().backward()
    assert a.grad.tolist() == [6.0, 6.0] and b.grad.tolist() == [[2.0, 2.0]] * 3

    a = ember.ones(2, 3, requires_grad=True)
    a.t().sum().backward()
    a.grad.add_(1)
    (a.t() * 2).sum().backward()
    assert a.grad.tolist() == [[4.0] * 3] * 2

    a = ember.ones(4, requires_grad=True)
    a.view(2, 2)[0].sum().backward()
    a.grad.mul_(3)
    a.view(2, 2)[1].sum().backward()
    assert a.grad.tolist() == [3.0, 3.0, 1.0, 1.0]

    a = ember.ones(4, requires_grad=True)
    x, y = a.split(2)
    (x + 2 * y).sum().backward()
    a.grad.add_(5)
    assert a.grad.tolist() == [6.0, 6.0, 7.0, 7.0]


def test_broadcast_grad_is_writable():
    a = ember.ones(2, requires_grad=True)
    a.expand(3, 2).sum().backward()
    a.grad.add_(1)  # must not be a read-only broadcast view
    assert a.grad.tolist() == [4.0, 4.0]
    s = ember.ones(1, requires_grad=True)
    (s * ember.ones(3)).sum().backward()
    s.grad.zero_()
    assert s.grad.tolist() == [0.0]
    w = ember.ones(3, requires_grad=True)
    w.unsqueeze(0).expand(2, 3).sum().backward()
    w.grad[0] = 7.0
    assert w.grad.tolist() == [7.0, 2.0, 2.0]


def test_user_set_grad_accumulates_in_place():
    x = ember.ones(2, requires_grad=True)
    x.grad = ember.zeros(2)
    g = x.grad
    (x * 2).sum().backward()
    assert x.grad is g and g.tolist() == [2.0, 2.0]


def test_ownership_matches_torch():
    snippets = [
        "a=T.ones(2,requires_grad=True)\nb=T.ones(2,requires_grad=True)\n(a+b).sum().backward()\na.grad.zero_()\n"
        "r=(a.grad,b.grad)",
        "a=T.ones(2,requires_grad=True)\nb=T.ones(2,requires_grad=True)\nc=a.clone()\n(c+b).sum().backward()\n"
        "b.grad.zero_()\nr=(a.grad,b.grad)",
        "a=T.ones(2,1,requires_grad=True)\nb=T.ones(1,3,requires_grad=True)\n"
        "for _ in range(2): (a*b).sum().backward()\na.grad.mul_(2)\nr=(a.grad,b.grad)",
        "a=T.ones(2,requires_grad=True)\nb=T.ones(2,requires_grad=True)\nx,y=a*1,b*1\nT.stack([x,y]).sum().backward()"
        "\nb.grad.add_(5)\nr=(a.grad,b.grad)",
        "a=T.ones(2,requires_grad=True)\nb=T.ones(2,requires_grad=True)\nT.cat([a,b]).sum().backward()\n"
        "a.grad.add_(5)\nr=(a.grad,b.grad)",
        "x=T.ones(2,requires_grad=True)\ny=x*2\nz=y.clone()\ny.retain_grad()\nz.retain_grad()\nz.sum().backward()\n"
        "z.grad.zero_()\nr=(y.grad,z.grad,x.grad)",
        "w=T.ones(2,2,requires_grad=True)\nx=T.ones(3,2)\nfor _ in range(2): (x@w).sum().backward()\nr=w.grad",
    ]
    for src in snippets:
        def run(lib):
            ns = {'T': lib}
            exec(src, ns)
            return [t.tolist() for t in (ns['r'] if isinstance(ns['r'], tuple) else (ns['r'],))]
        assert_same_outcome(run)


# ---- grad modes -----------------------------------------------------------------------------------------------------

def test_grad_mode_contexts():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    with ember.no_grad():
        assert not ember.is_grad_enabled()
        y = x * 2
        with ember.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ember.is_grad_enabled()
    ember.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        ember.set_grad_enabled(True)
    with ember.inference_mode():
        assert not (x * 2).requires_grad
    with ember.inference_mode(False):
        assert (x * 2).requires_grad
    with ember.autograd.no_grad():
        assert not ember.autograd.is_grad_enabled()
    assert ember.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with ember.no_grad():
            raise ValueError
    assert ember.is_grad_enabled()


def test_grad_mode_decorators():
    x = ember.tensor([1.0, 2.0], requires_grad=True)

    @ember.no_grad()
    def f1(t):
        return t * 2

    @ember.no_grad
    def f2(t):
        return t * 2

    @ember.inference_mode()
    def f3(t):
        return t * 2

    @ember.inference_mode
    def f4(t):
        return t * 2

    @ember.set_grad_enabled(False)
    def f5(t):
        return t * 2

    @ember.enable_grad()
    def g1(t):
        return t * 2

    assert ember.is_grad_enabled()  # decorating switched nothing
    for f in (f1, f2, f3, f4, f5):
        assert not f(x).requires_grad, f.__name__
        assert ember.is_grad_enabled()
    assert f1.__name__ == 'f1' and f5.__name__ == 'f5'
    with ember.no_grad():
        assert g1(x).requires_grad
        assert not ember.is_grad_enabled()


@needs_torch
def test_grad_mode_decorators_match_torch():
    for lib in (ember, torch):
        @lib.set_grad_enabled(False)
        def f(t):
            return t * 2
        assert lib.is_grad_enabled()
        assert not f(lib.ones(1, requires_grad=True)).requires_grad


# ---- requires_grad_, detach, hooks ----------------------------------------------------------------------------------

def test_requires_grad_and_detach():
    x = ember.ones(2)
    x.requires_grad_()
    y = (x * 3).detach()
    assert not y.requires_grad and y.is_leaf
    y.requires_grad_()
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0, 6.0] and x.grad is None
    d = x.detach()
    with ember.no_grad():
        d[0] = 5  # shares storage
    assert x[0].item() == 5
    x.requires_grad_(False)
    assert not x.requires_grad


def test_hooks_leaf_and_non_leaf():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [20.0, 20.0]
    h.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]

    x.grad = None
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.clone()))
    hz = y.register_hook(lambda g: g * 0)
    (y * y).sum().backward(retain_graph=True)
    assert seen[0].tolist() == [4.0, 8.0] and x.grad.tolist() == [0.0, 0.0]
    hz.remove()
    (y * y).sum().backward()
    assert x.grad.tolist() == [8.0, 16.0]
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        ember.ones(1).register_hook(lambda g: g)


# ---- autograd.grad --------------------------------------------------------------------------------------------------

def test_autograd_grad_basic():
    x = ember.tensor([2.0, 3.0], requires_grad=True)
    y = x ** 2
    (g,) = ember.autograd.grad(y, x, grad_outputs=ember.tensor([1.0, 10.0]))
    assert g.tolist() == [4.0, 60.0] and x.grad is None and not g.requires_grad
    w = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match='allow_unused'):
        ember.autograd.grad((x ** 2).sum(), [x, w])
    gx, gw = ember.autograd.grad((x ** 2).sum(), [x, w], allow_unused=True)
    assert gx.tolist() == [4.0, 6.0] and gw is None
    gx, gw = ember.autograd.grad((x ** 2).sum(), [x, w], materialize_grads=True)
    assert gw.tolist() == [0.0]
    s = (x ** 2).sum()
    ember.autograd.grad(s, x, retain_graph=True)
    ember.autograd.grad(s, x)
    with pytest.raises(RuntimeError, match='second time'):
        ember.autograd.grad(s, x)
    with pytest.raises(RuntimeError, match='implicitly created only for scalar outputs'):
        ember.autograd.grad(x ** 2, x)
    with pytest.raises(RuntimeError, match='does not require grad'):
        ember.autograd.grad((ember.ones(2) * 2).sum(), ember.ones(2))


def test_autograd_grad_of_non_leaf_and_several_outputs():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    (gh,) = ember.autograd.grad(y, h, retain_graph=True)
    assert gh.tolist() == [6.0, 12.0]
    gx = ember.autograd.grad([y, x.sum()], x)[0]
    assert gx.tolist() == [18 * 1.0 + 1, 18 * 2.0 + 1]


def test_higher_order_derivatives():
    x = ember.tensor([2.0, -1.0], requires_grad=True)
    y = (x ** 3).sum()
    (g1,) = ember.autograd.grad(y, x, create_graph=True)
    assert g1.requires_grad and g1.tolist() == [12.0, 3.0]
    (g2,) = ember.autograd.grad(g1.sum(), x, create_graph=True)
    assert g2.tolist() == [12.0, -6.0]  # 6x
    (g3,) = ember.autograd.grad(g2.sum(), x)
    assert g3.tolist() == [6.0, 6.0]
    # through backward(create_graph=True) as well
    z = ember.tensor(1.5, requires_grad=True)
    (z.sin() * z).backward(create_graph=True)
    first = z.grad
    assert first.requires_grad
    (g2z,) = ember.autograd.grad(first, z)
    want = 2 * np.cos(1.5) - 1.5 * np.sin(1.5)
    assert abs(g2z.item() - want) < 1e-5


def test_higher_order_matches_torch():
    def run(lib):
        x = lib.tensor([0.3, 1.7], dtype=lib.float64, requires_grad=True)
        y = (x.exp() * x.sin() / (1 + x * x)).sum()
        out = []
        g = x
        f = y
        for _ in range(3):
            (g,) = lib.autograd.grad(f, x, create_graph=True)
            out.append(g)
            f = g.sum()
        return out
    assert_parity(run, grad=False, rtol=1e-10, atol=0)


def test_backward_inputs_argument():
    x = ember.ones(2, requires_grad=True)
    w = ember.ones(2, requires_grad=True)
    (x * w * 2).sum().backward(inputs=[x])
    assert x.grad.tolist() == [2.0, 2.0] and w.grad is None


# ---- custom Function ------------------------------------------------------------------------------------------------

class Cube(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x ** 3 * k

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        Cube.seen_needs = ctx.needs_input_grad
        return g * 3 * x ** 2 * ctx.k, None


class SplitArgmax(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        idx = x.argmax()
        ctx.mark_non_differentiable(idx)
        return x * 2, x.exp(), idx

    @staticmethod
    def backward(ctx, ga, gb, gi):
        return ga * 2 + gb * 0


class WrongSquare(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x  # should be 2 * x


def test_custom_function():
    x = t64(3)
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name() == 'CubeBackward' and y.requires_grad
    y.sum().backward()
    assert Cube.seen_needs == (True, False)
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy() ** 2)
    assert ember.autograd.gradcheck(lambda t: Cube.apply(t, 2.0), (t64(2, 3),))
    assert not Cube.apply(ember.ones(2), 1.0).requires_grad
    with ember.no_grad():
        assert not Cube.apply(t64(2), 1.0).requires_grad


def test_custom_function_multiple_outputs_and_non_differentiable():
    x = ember.tensor([1.0, 3.0, 2.0], requires_grad=True)
    a, b, i = SplitArgmax.apply(x)
    assert a.requires_grad and b.requires_grad and not i.requires_grad and i.item() == 1
    a.sum().backward()  # b unused: its gradient arrives as zeros
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_custom_function_saved_tensors_checks():
    x = ember.tensor([1.0, 3.0], requires_grad=True)
    y = Cube.apply(x * 1, 1.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match='second time'):
        y.backward()
    z = x * 1
    y = Cube.apply(z, 1.0)
    z.add_(1)
    with pytest.raises(RuntimeError, match='CubeBackward.*version 1; expected version 0'):
        y.sum().backward()


def test_gradcheck_detects_wrong_backward():
    x = t64(3)
    assert ember.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
    assert ember.autograd.gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False
    with pytest.raises(RuntimeError, match='Jacobian mismatch'):
        ember.autograd.gradcheck(WrongSquare.apply, (x,))
    assert ember.autograd.gradgradcheck(lambda t: (t ** 3).sum(), (t64(2),))


# ---- in-place safety ------------------------------------------------------------------------------------------------

def test_inplace_on_leaf_requiring_grad():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: x.add_(1), lambda: x.mul_(2), lambda: x.zero_(), lambda: x.fill_(1.0),
               lambda: x.copy_(ember.ones(2)), lambda: x.__setitem__(0, 5.0), lambda: x.exp_()):
        with pytest.raises(RuntimeError, match='leaf Variable that requires grad'):
            op()
    with ember.no_grad():
        x.add_(1)
        x[0] = 7.0
    assert x.tolist() == [7.0, 3.0] and x.is_leaf and x.requires_grad


def test_version_counter():
    x = ember.ones(3)
    v = x._version
    x.add_(1)
    x[0] = 2.0
    x.zero_()
    assert x._version == v + 3
    assert x.detach()._version == x._version  # detach shares the counter
    view = x.view(3)
    view.mul_(2)
    assert x._version == v + 4


def test_modified_saved_tensor_raises_naming_op():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    z = x * 1
    y = z * z
    z.add_(1)
    with pytest.raises(RuntimeError, match='modified by an inplace operation.*MulBackward0.*version 1'):
        y.sum().backward()
    z = x * 1
    y = z.log()
    z.mul_(2)
    with pytest.raises(RuntimeError, match='LogBackward0'):
        y.sum().backward()


def test_modified_saved_output_raises():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    for make, name in ((lambda t: t.exp(), 'ExpBackward0'), (lambda t: t.sigmoid(), 'SigmoidBackward0'),
                       (lambda t: t.tanh(), 'TanhBackward0'), (lambda t: t.sqrt(), 'SqrtBackward0')):
        y = make(x)
        y.add_(1)
        with pytest.raises(RuntimeError, match=f'inplace operation.*{name}'):
            y.sum().backward()
    y = x.exp()
    y.view(2)[0] = 3.0  # through a view
    with pytest.raises(RuntimeError, match='ExpBackward0'):
        y.sum().backward()


def test_inplace_on_non_leaf_is_differentiated():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    z = x * 1
    z.mul_(3)
    z.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    x.grad = None
    z = x * 1
    z[0] = 7.0
    z.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0]
    # .data bypasses autograd's checks, as in PyTorch
    x.grad = None
    y = x * x
    x.data.mul_(1)
    y.sum().backward()
    assert x.grad is not None


# ---- anomaly detection ----------------------------------------------------------------------------------------------

def test_anomaly_forward_names_first_op_shapes_and_line():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    with ember.autograd.detect_anomaly():
        with pytest.raises(RuntimeError) as info:
            y = (x * 0).log()  # the line to report
            y.exp()
    msg = str(info.value)
    assert 'LogBackward0' in msg and 'ExpBackward0' not in msg and 'MulBackward0' not in msg
    assert '(2,)' in msg and 'float32' in msg
    assert 'test_autograd.py' in msg and 'y = (x * 0).log()' in msg
    assert not ember.autograd.is_anomaly_enabled()


def test_anomaly_backward_names_op():
    z = ember.zeros(2, 3, requires_grad=True)
    with ember.autograd.detect_anomaly():
        w = z * 1
        y = (w.sqrt() * 2).sum()
        with pytest.raises(RuntimeError) as info:
            y.backward()
    msg = str(info.value)
    assert 'SqrtBackward0' in msg and 'MulBackward0' not in msg
    assert '(2, 3)' in msg and 'float32' in msg and 'y = (w.sqrt() * 2).sum()' in msg


def test_set_detect_anomaly_and_decorator():
    prev = ember.autograd.set_detect_anomaly(True)
    try:
        assert ember.autograd.is_anomaly_enabled()
        with pytest.raises(RuntimeError, match='DivBackward0'):
            ember.tensor([0.0], requires_grad=True) / 0.0
    finally:
        ember.autograd.set_detect_anomaly(False)
    assert not ember.autograd.is_anomaly_enabled()
    with ember.autograd.set_detect_anomaly(True):
        assert ember.autograd.is_anomaly_enabled()
    assert not ember.autograd.is_anomaly_enabled()
    del prev

    @ember.autograd.detect_anomaly()
    def f(t):
        return t.log()
    with pytest.raises(RuntimeError, match='LogBackward0'):
        f(ember.zeros(1, requires_grad=True))
    assert not ember.autograd.is_anomaly_enabled()
    # without anomaly mode NaNs flow silently, as in PyTorch
    assert ember.isinf(ember.zeros(1, requires_grad=True).log()).all()


def test_anomaly_in_custom_function_backward():
    class BadGrad(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g * float('nan')
    x = ember.ones(2, requires_grad=True)
    with ember.autograd.detect_anomaly():
        y = BadGrad.apply(x).sum()
        with pytest.raises(RuntimeError, match='BadGradBackward'):
            y.backward()


# ---- errors ---------------------------------------------------------------------------------------------------------

def test_backward_errors_explain_themselves():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r'implicitly created only for scalar outputs.*shape \(2,\)'):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match='does not require grad and does not have a grad_fn.*int64'):
        ember.tensor([1, 2]).sum().backward()
    with pytest.raises(RuntimeError, match='does not require grad and does not have a grad_fn'):
        ember.tensor([1.0, 2.0]).sum().backward()
    with pytest.raises(RuntimeError, match='Mismatch in shape'):
        (x * 2).backward(ember.ones(3))
    with pytest.raises(RuntimeError, match='floating point'):
        ember.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match='cannot be converted to Scalar'):
        x.item()


def test_error_types_match_torch():
    cases = ["(T.tensor([1., 2.], requires_grad=True) * 2).backward()",
             "T.tensor([1, 2]).sum().backward()",
             "T.tensor([1., 2.]).sum().backward()",
             "T.tensor([1, 2]).requires_grad_()",
             "T.tensor([1., 2.]).item()",
             "T.tensor([1., 2.], requires_grad=True).add_(1)",
             "T.tensor([1., 2.], requires_grad=True).numpy()",
             "(T.tensor([1., 2.], requires_grad=True) * 2).requires_grad_(False)"]
    for src in cases:
        def run(lib):
            exec(src, {'T': lib})
        assert outcome(run, ember)[0] == 'raises', src
        assert_same_outcome(run)


def test_backward_frees_saved_tensors():
    import gc
    import weakref
    x = ember.ones(100, requires_grad=True)
    h = x * 2
    y = (h * h).sum()
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is not None  # saved by MulBackward0
    y.backward()
    gc.collect()
    assert ref() is None  # released with the graph's saved tensors, while y is still alive


# ---- in-place ops on views: the base's graph is rewritten (PyTorch's CopySlices) -------------------------------------

def _setitem(t, key, value):
    t[key] = value
    return t


# each snippet builds y from x (3x4) and w (3x4), edits a view of y in place, and returns the tensors to check
_VIEW_INPLACE = {
    'getitem_col_mul': lambda L, x, w: (lambda y: (y[:, 0].mul_(2), y)[1])(x * 1),
    'narrow_add': lambda L, x, w: (lambda y: (y.narrow(0, 1, 2).add_(w[:2]), y)[1])(x * 1),
    'view_setitem': lambda L, x, w: (lambda y: (_setitem(y.view(-1), 3, w[0, 0] * 5), y)[1])(x * 1),
    't_relu': lambda L, x, w: (lambda y: (y.t().relu_(), y)[1])(x * 1),
    'unsqueeze_clamp': lambda L, x, w: (lambda y: (y.unsqueeze(0).clamp_(max=0.5), y)[1])(x * 1),
    'select_copy': lambda L, x, w: (lambda y: (y[1].copy_(w[0] * 2), y)[1])(x * 1),
    'buffer_copy': lambda L, x, w: (lambda y: (y[1:].copy_(x[:2] * w[1:]), y)[1])(L.zeros(3, 4, dtype=L.float64)),
    'buffer_setitem': lambda L, x, w: (lambda y: (_setitem(y[:, 1], slice(0, 2), x[0, :2] * w[0, :2]), y)[1])(
        L.ones(3, 4, dtype=L.float64)),
    'view_of_view': lambda L, x, w: (lambda y: (y[1:][:, ::2].mul_(w[:2, :2]), y)[1])(x * 1),
    'permute_select_sub': lambda L, x, w: (lambda y: (y.permute(1, 0)[2].sub_(x[:, 0] * w[:, 1]), y)[1])(x * 1),
    'select_dim_div': lambda L, x, w: (lambda y: (y.select(1, 2).div_(w[:, 0] ** 2 + 1), y)[1])(x * 1),
    'diagonal_add': lambda L, x, w: (lambda y: (y.diagonal().add_(w[0, :3]), y)[1])(x * 1),
    'diagonal_offset_mul': lambda L, x, w: (lambda y: (y.diagonal(1).mul_(w[1, 1:]), y)[1])(x * 1),
    'reshape_exp': lambda L, x, w: (lambda y: (y.reshape(2, 6)[0].exp_(), y)[1])(x * 1),
    'squeeze_mul': lambda L, x, w: (lambda y: (y[None, 1:2].squeeze().mul_(w[0]), y)[1])(x * 1),
    'transpose_unsqueeze_pow': lambda L, x, w: (lambda y: (y.transpose(0, 1).unsqueeze(0)[0, 1:3].pow_(2), y)[1])(
        x * 1),
    'view_then_use_view': lambda L, x, w: (lambda y: (lambda v: (v.mul_(w[0]), v * 3 + y.sum())[1])(y[1]))(x * 1),
    'two_edits': lambda L, x, w: (lambda y: (y[0].mul_(2), y[0].neg_(), y[0].add_(w[0]), y[1:, 1].mul_(w[1:, 1]),
                                             y)[4])(x * 1),
    'intermediate_view': lambda L, x, w: (lambda y: (lambda u: (u[0].mul_(w[0]), u * u + y.sum())[1])(y[1:]))(x * 1),
    'advanced_setitem_on_view': lambda L, x, w: (lambda y: (_setitem(y[0], L.tensor([0, 2]), w[0, :2]), y)[1])(x * 1),
    'masked_fill_on_view': lambda L, x, w: (lambda y: (y[:, 1].masked_fill_(x[:, 1] > 0, 0.0), y)[1])(x * 1),
    'fill_on_view': lambda L, x, w: (lambda y: (y[2, 1:].fill_(3.0), y * w)[1])(x * 1),
    'zero_on_view': lambda L, x, w: (lambda y: (y[:, :2].zero_(), y * w)[1])(x * 1),
    'nonc_root_reshape': lambda L, x, w: (lambda y: (y.t().reshape(-1)[2:7].mul_(w[0, 0]), y)[1])(x.t() * 1),
    'sub_view_of_nograd_base': lambda L, x, w: (lambda y: (y.view(4, 3)[1:3].mul_(w[0, :3]), y)[1])(
        x.detach() * 1),
    'view_add_base_itself': lambda L, x, w: (lambda y: (y[0].add_(y[1] + w[2]), y)[1])(x * 1),
    'scalar_select_mul': lambda L, x, w: (lambda y: (y[1, 2].mul_(w[0, 0]), y)[1])(x * 1),
    'setitem_on_row_view': lambda L, x, w: (lambda y: (_setitem(y[1], 2, w[0, 1] * 3), y)[1])(x * 1),
    'expand_leading_ones': lambda L, x, w: (lambda y: (y.expand(1, 3, 4)[0, 1].mul_(w[0]), y)[1])(x * 1),
    'buffer_view_clamp_min': lambda L, x, w: (lambda y: (y[1].clamp_(min=w[0] * x[2]), y)[1])(
        L.zeros(3, 4, dtype=L.float64)),
    'buffer_view_index_add': lambda L, x, w: (lambda y: (y[:, 1:].index_add_(1, L.tensor([0, 2, 0]), w[:, :3] * 2),
                                                         y)[1])(L.ones(3, 4, dtype=L.float64)),
    'each_row': lambda L, x, w: (lambda y: ([y[i].mul_(w[i, i]) for i in range(3)], y)[1])(x * 1),
    'movedim_flatten': lambda L, x, w: (lambda y: (y.view(3, 2, 2).movedim(2, 0).flatten(1)[1].mul_(
        w.reshape(-1)[:6]), y)[1])(x * 1),
}


@pytest.mark.parametrize('name', sorted(_VIEW_INPLACE))
def test_inplace_on_view_matches_torch(name):
    rng = np.random.default_rng(1)
    assert_parity(_VIEW_INPLACE[name], rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('name', sorted(_VIEW_INPLACE))
def test_inplace_on_view_gradcheck(name):
    fn = _VIEW_INPLACE[name]
    x, w = t64(3, 4, seed=2, requires_grad=name != 'sub_view_of_nograd_base'), t64(3, 4, seed=3)
    if name == 't_relu':  # keep away from relu's kink
        x = ember.tensor(np.where(np.abs(x.detach().numpy()) < 0.1, 0.5, x.detach().numpy()), requires_grad=True)
    if name == 'masked_fill_on_view':  # the mask is a comparison of x: finite differences do not flip it
        x = ember.tensor(np.where(np.abs(x.detach().numpy()) < 0.1, 0.5, x.detach().numpy()), requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, b: fn(ember, a, b), (x, w))


@pytest.mark.parametrize('name', ['getitem_col_mul', 'narrow_add', 'view_setitem', 'select_dim_div',
                                  'diagonal_add', 'nonc_root_reshape', 'view_add_base_itself'])
def test_inplace_on_view_gradgradcheck(name):
    fn = _VIEW_INPLACE[name]
    assert ember.autograd.gradgradcheck(lambda a, b: fn(ember, a, b) ** 2, (t64(3, 4, seed=4), t64(3, 4, seed=5)))


def test_inplace_on_view_rebinds_base_and_view():
    x = ember.ones(2, 3, requires_grad=True)
    y = x * 1
    v = y[:, 0]
    v.mul_(2)
    assert y.grad_fn.name() == 'CopySlices' and y._version == 1 and v._version == 1
    assert v._base is y and v._is_view() and not y._is_view() and y._base is None
    assert v.grad_fn.name() == 'SelectBackward0' or v.grad_fn.name() == 'SliceBackward0'
    (v.sum() * 10 + y.sum()).backward()
    assert x.grad.tolist() == [[22.0, 1.0, 1.0], [22.0, 1.0, 1.0]]


def test_view_of_view_edit_rebinds_the_views_between():
    x = ember.arange(12.0).reshape(3, 4).requires_grad_()
    y = x * 1
    u = y[1:]          # a view of y
    u[:, 1:3].mul_(3)  # a view of u edited: y and u both see it
    assert u._base is y and u.grad_fn.name() == 'SliceBackward0'
    (u.sum() + y.sum()).backward()
    assert x.grad.tolist() == [[1, 1, 1, 1], [2, 6, 6, 2], [2, 6, 6, 2]]


def test_buffer_filled_through_views_gets_a_graph():
    w = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    buf = ember.zeros(2, 3)
    buf[0].copy_(w * 2)
    buf.narrow(0, 1, 1).add_(w)
    assert buf.requires_grad and buf.grad_fn.name() == 'CopySlices'
    (buf * ember.tensor([[1.0, 1, 1], [10, 10, 10]])).sum().backward()
    assert w.grad.tolist() == [12.0, 12.0, 12.0]


def test_split_chunk_unbind_outputs_edit_the_base():
    # PyTorch refuses in-place edits of multi-output views; ember's are plain slices and edit the base correctly
    x = ember.ones(4, 2, requires_grad=True)
    y = x * 1
    y.chunk(2)[1].mul_(3)
    y.split(1)[0].add_(1)
    y.unbind(1)[1].mul_(5)
    for row in y:  # iteration unbinds too
        row.mul_(2)
    y.sum().backward()
    assert x.grad.tolist() == [[2, 10], [2, 10], [6, 30], [6, 30]]


def test_view_of_leaf_inplace_raises():
    x = ember.ones(2, 3, requires_grad=True)
    for edit in (lambda: x[0].mul_(2), lambda: x.view(-1).zero_(), lambda: _setitem(x[:, 1], 0, 5.0),
                 lambda: x.t()[0].copy_(ember.zeros(2)), lambda: x.diagonal().fill_(1.0)):
        with pytest.raises(RuntimeError, match='a view of a leaf Variable that requires grad is being used in an '
                                               'in-place operation.'):
            edit()
    assert x.tolist() == [[1.0] * 3] * 2 and x._version == 0
    with ember.no_grad():  # optimizer-style edits of a parameter's view stay allowed
        x[0].mul_(2)
        x.view(-1)[1] = 7.0
    assert x.tolist() == [[2.0, 7.0, 2.0], [1.0, 1.0, 1.0]]


def test_no_grad_view_edited_with_grad_raises():
    x = ember.ones(3, requires_grad=True)
    y = x * 1
    with ember.no_grad():
        v = y[:2]
        buf_view = ember.zeros(3)[:2]
    with pytest.raises(RuntimeError, match='A view was created in no_grad mode and is being modified inplace'):
        v.mul_(2)
    with pytest.raises(RuntimeError, match='a view which was created in no_grad mode'):
        v[1:].mul_(2)
    with pytest.raises(RuntimeError, match='created in no_grad mode'):
        buf_view.copy_(x[:2])
    buf_view.mul_(2)  # nothing requires grad: nothing is recorded, allowed (as in PyTorch)
    with ember.no_grad():
        v.mul_(2)  # untracked edit, allowed
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_inplace_on_expanded_view_raises():
    y = ember.ones(3, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match='more than one element of the written-to tensor refers to a single memory'):
        y.expand(2, 3).mul_(2)
    with ember.no_grad(), pytest.raises(RuntimeError, match='more than one element of the written-to tensor'):
        y.expand(2, 3).mul_(2)


def test_view_inplace_errors_match_torch():
    for src in ('x = T.ones(3, requires_grad=True); x[0].mul_(2)',
                'x = T.ones(3, requires_grad=True); y = x * 1\nwith T.no_grad(): v = y[:2]\nv.mul_(2)',
                'y = T.ones(3, requires_grad=True) * 1; y.expand(2, 3).add_(1)'):
        def run(lib):
            exec(src, {'T': lib})
        assert outcome(run, ember)[:2] == ['raises', 'RuntimeError'], src
        assert_same_outcome(run)


def test_no_grad_edits_of_views_record_nothing():
    p = ember.ones(2, 3, requires_grad=True)
    g = ember.ones(2, 3)
    with ember.no_grad():
        p[:, 0] -= 0.5 * g[:, 0]
        p.view(-1)[2] = 3.0
    assert p.is_leaf and p.grad_fn is None and p.tolist() == [[0.5, 1, 3], [0.5, 1, 1]]
    y = p * 1
    with ember.no_grad():
        y[0].mul_(2)  # untracked: y keeps its graph, as in PyTorch
    assert y.grad_fn.name() == 'MulBackward0'


def test_diagonal_is_a_view():
    a = ember.zeros(3, 4)
    a.diagonal().add_(1)
    a.diagonal(1).fill_(2)
    ember.diagonal(a.view(1, 3, 4), -1, 1, 2).fill_(5)
    assert a.tolist() == [[1, 2, 0, 0], [5, 1, 2, 0], [0, 5, 1, 2]]
    assert a.diagonal(7).shape == (0,) and a.diag().tolist() == [1.0, 1.0, 1.0]
    d = a.diag()
    d.add_(1)  # diag of a matrix is a copy
    assert a.diagonal().tolist() == [1.0, 1.0, 1.0]


def test_reshape_that_copies_is_not_a_view():
    x = ember.tensor([[0.0, 1, 2], [3, 4, 5]])
    r = x.t().reshape(-1)  # needs a copy
    assert not r._is_view()
    r.add_(1)
    assert x._version == 0 and x.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert x.reshape(3, 2)._is_view() and x.t().reshape(3, 2)._base is x


# ---- copy_ replaces the history; gradient dtypes; index assignment backward (issue 10) ------------------------------

def test_copy_replaces_history():
    def run(T):
        x = T.ones(2, requires_grad=True)
        b = x * 1
        b.copy_(T.zeros(2))
        b.sum().backward()
        return x.grad.tolist(), b.requires_grad
    assert outcome(run, ember) == [[0.0, 0.0], True]
    assert_same_outcome(run)


@pytest.mark.parametrize('case', ['plain', 'broadcast_view', 'dtype', 'leaf_dest'])
def test_copy_routes_gradient_to_source(case):
    def run(T):
        x = T.ones(2, 3, requires_grad=True)
        s = T.tensor([2.0, 3.0, 4.0], dtype=T.float64 if case == 'dtype' else T.float32, requires_grad=True)
        if case == 'leaf_dest':
            b = T.zeros(2, 3)
            b.copy_(s * 2)
        else:
            b = x * 1
            (b[0] if case == 'broadcast_view' else b).copy_(s * 2)
        (b * T.arange(6.0).reshape(2, 3)).sum().backward()
        return (None if x.grad is None else x.grad.tolist()), s.grad.tolist(), str(s.grad.dtype).split('.')[-1]
    assert_same_outcome(run)


@pytest.mark.parametrize('expr', ['x.max()', 'x.min()', 'x.amax()', 'T.maximum(x, T.tensor([2, 2, 2]))',
                                  'T.minimum(x, T.tensor([2, 2, 2]))', 'T.maximum(x, x.detach())'])
def test_extrema_gradients_keep_float32(expr):
    def run(T):
        x = T.tensor([1.0, 3.0, 2.0], requires_grad=True)
        eval(expr, {'T': T, 'x': x}).sum().backward()
        return str(x.grad.dtype).split('.')[-1], x.grad.tolist()
    assert outcome(run, ember)[0] == 'float32'
    assert_same_outcome(run)


@pytest.mark.parametrize('case', ['duplicate_rows', 'leading_one', 'broadcast_one', 'mask', 'int_and_list'])
def test_index_assignment_backward(case):
    def run(T):
        x = T.zeros(4, 4, requires_grad=True)
        y = x * 1
        v = {'duplicate_rows': T.arange(8.0).reshape(2, 4), 'leading_one': T.ones(1, 4),
             'broadcast_one': T.ones(1), 'mask': T.tensor([5.0, 6.0]), 'int_and_list': T.tensor([7.0, 8.0])}[case]
        v.requires_grad_()
        if case == 'duplicate_rows':
            y[[1, 1]] = v
        elif case == 'leading_one':
            y[3] = v
        elif case == 'broadcast_one':
            y[1] = v
        elif case == 'mask':
            y[T.arange(16).reshape(4, 4) % 7 == 0] = v.sum()  # a 0-dim value broadcast over a mask
        else:
            y[2, [0, 3]] = v
        (y * T.arange(16.0).reshape(4, 4)).sum().backward()
        return y.tolist(), x.grad.tolist(), v.grad.tolist()
    assert_same_outcome(run)


@pytest.mark.parametrize('case', ['fill_const', 'fill_grad_value', 'fill_nan_history', 'setitem_int_dest'])
def test_fill_and_setitem_histories(case):
    def run(T):
        x = T.tensor([1.0, float('nan'), 2.0], requires_grad=True)
        v = T.tensor(3.0, requires_grad=True)
        y = x * 1
        if case == 'fill_const':
            y.fill_(5)
        elif case == 'fill_grad_value':
            y.fill_(v)
        elif case == 'fill_nan_history':
            y[1:].zero_()
        else:
            z = T.zeros(3, dtype=T.int32)
            z[0] = v
            return z.tolist(), z.requires_grad
        (y * T.tensor([1.0, 2.0, 3.0])).sum().backward()
        return (y.tolist() if case != 'fill_nan_history' else np.nan_to_num(y.detach().numpy(), nan=7.0).tolist(),
                x.grad.tolist(), None if v.grad is None else v.grad.item())
    assert_same_outcome(run)
