"""Nodes whose backward keeps data declare it (``record(..., holds=True)``, issue 11): backward frees it, a second
backward raises PyTorch's error, retain_graph=True allows one; nodes that keep nothing can run again."""
import gc
import weakref

import pytest

import ember
import ember.nn.functional as F_e
from ember.ops._util import record


def _x(m, *shape):
    m.manual_seed(0)
    return m.randn(*shape, dtype=m.float64, requires_grad=True)


def _setitem(m, y, key, value):
    y[key] = value
    return y


def _lin(m, name):
    return getattr(m.linalg, name)


# (name, op on module m, raises on a second backward): one op from each group of closures that held arrays
CASES = [
    ('index', lambda m: _x(m, 4)[m.tensor([0, 2, 2])], True),
    ('index_split', lambda m: _x(m, 2, 3, 4)[0, :, [1, 2]], True),  # (ember ran these twice before issue 11)
    ('setitem_split', lambda m: _setitem(m, _x(m, 2, 3, 4) * 1, (0, slice(None), [1, 2]),
                                          m.zeros(3, 2, dtype=m.float64)), True),
    ('index_select', lambda m: _x(m, 4).index_select(0, m.tensor([1, 3])), True),
    ('take', lambda m: _x(m, 4).take(m.tensor([0, 3])), True),
    ('index_add', lambda m: _x(m, 3).index_add(0, m.tensor([0, 2]), _x(m, 2)), True),
    ('index_put', lambda m: (_x(m, 3) * 1).index_put_((m.tensor([0, 2]),), _x(m, 2), accumulate=True), True),
    ('pad_reflect', lambda m: m.nn.functional.pad(_x(m, 1, 2, 5), (2, 1), mode='reflect'), True),
    ('pad_replicate', lambda m: m.nn.functional.pad(_x(m, 1, 2, 5), (2, 1), mode='replicate'), True),
    ('where', lambda m: m.where(m.tensor([True, False, True]), _x(m, 3), 0.5), True),
    ('masked_fill', lambda m: _x(m, 3).masked_fill(m.tensor([True, False, True]), 0.0), True),
    ('huber', lambda m: m.nn.functional.huber_loss(_x(m, 5), m.zeros(5, dtype=m.float64), delta=0.5), True),
    ('smooth_l1', lambda m: m.nn.functional.smooth_l1_loss(_x(m, 5), m.zeros(5, dtype=m.float64)), True),
    ('prelu', lambda m: m.nn.functional.prelu(_x(m, 3, 2), m.full((2,), 0.25, dtype=m.float64,
                                                                   requires_grad=True)), True),
    ('gather', lambda m: _x(m, 3, 2).gather(1, m.tensor([[0], [1], [1]])), True),
    ('scatter', lambda m: _x(m, 4).scatter(0, m.tensor([0, 1]), _x(m, 2)), True),
    ('sort', lambda m: _x(m, 5).sort()[0], True),
    ('topk', lambda m: _x(m, 5).topk(2)[0], True),
    ('kthvalue', lambda m: _x(m, 5).kthvalue(2)[0], True),
    ('max_dim', lambda m: _x(m, 3, 2).max(1)[0], True),
    ('min', lambda m: _x(m, 3, 2).min(), True),
    ('amax', lambda m: _x(m, 3, 2).amax(1), True),
    ('vector_norm_inf', lambda m: _lin(m, 'vector_norm')(_x(m, 4), float('inf')), True),
    ('vector_norm_3', lambda m: _lin(m, 'vector_norm')(_x(m, 4), 3), True),
    ('max_pool2d', lambda m: m.nn.functional.max_pool2d(_x(m, 1, 1, 4, 4), 2), True),
    ('adaptive_max_pool2d', lambda m: m.nn.functional.adaptive_max_pool2d(_x(m, 1, 1, 4, 4), 2), True),
    ('relu', lambda m: m.relu(_x(m, 5)), True),
    ('leaky_relu', lambda m: m.nn.functional.leaky_relu(_x(m, 5)), True),
    ('hardtanh', lambda m: m.nn.functional.hardtanh(_x(m, 5)), True),
    ('clamp_tensor', lambda m: _x(m, 4).clamp(min=m.zeros(4, dtype=m.float64)), True),
    ('batch_norm_eval', lambda m: m.nn.functional.batch_norm(_x(m, 4, 2), m.zeros(2, dtype=m.float64),
                                                               m.ones(2, dtype=m.float64), training=False), True),
    ('embedding', lambda m: m.nn.functional.embedding(m.tensor([0, 2, 2]), _x(m, 3, 2)), True),
    ('nan_to_num', lambda m: _x(m, 3).nan_to_num(), True),
    ('cummax', lambda m: _x(m, 4).cummax(0)[0], True),
    ('mode', lambda m: _x(m, 3, 4).mode(1)[0], True),
    ('cross_entropy', lambda m: m.nn.functional.cross_entropy(_x(m, 3, 4), m.tensor([0, 3, 1])), True),
    ('nll_loss', lambda m: m.nn.functional.nll_loss(_x(m, 3, 4), m.tensor([0, 3, 1])), True),
    ('det', lambda m: _lin(m, 'det')(_x(m, 3, 3)), True),
    ('slogdet', lambda m: _lin(m, 'slogdet')(_x(m, 3, 3))[1], True),
    ('eigh', lambda m: _lin(m, 'eigh')(_x(m, 3, 3))[0], True),
    ('svdvals', lambda m: _lin(m, 'svdvals')(_x(m, 3, 3)), True),
    ('qr', lambda m: _lin(m, 'qr')(_x(m, 3, 3))[1], True),
    ('lu_factor', lambda m: _lin(m, 'lu_factor')(_x(m, 3, 3))[0], True),
    # nodes that keep nothing but shapes and numbers run again, as in PyTorch
    ('sum', lambda m: _x(m, 3, 2).sum(1), False),
    ('cumsum', lambda m: _x(m, 4).cumsum(0), False),
    ('reshape', lambda m: _x(m, 3, 2).reshape(6), False),
    ('add', lambda m: _x(m, 3) + 1, False),
]
_IDS = [c[0] for c in CASES]


def _second_backward(m, op):
    """'raises' or 'runs' for a second backward without retain_graph."""
    y = op(m).sum()
    y.backward()
    try:
        y.backward()
    except RuntimeError as e:
        assert str(e).startswith('Trying to backward through the graph a second time'), str(e)
        return 'raises'
    return 'runs'


@pytest.mark.parametrize('name,op,raises', CASES, ids=_IDS)
def test_second_backward(name, op, raises):
    assert _second_backward(ember, op) == ('raises' if raises else 'runs')


@pytest.mark.parametrize('name,op,raises', CASES, ids=_IDS)
def test_retain_graph_allows_a_second_backward(name, op, raises):
    x_out = op(ember)
    y = x_out.sum()
    leaves = []
    stack = [y.grad_fn]
    while stack:  # the leaves, to compare their gradients after one and after two backwards
        n = stack.pop()
        for nxt, _ in n.next_functions:
            if nxt is None:
                continue
            if hasattr(nxt, 'variable'):
                leaves.append(nxt.variable)
            else:
                stack.append(nxt)
    y.backward(retain_graph=True)
    first = [t.grad.clone() for t in leaves]
    y.backward()
    for t, g in zip(leaves, first):
        assert ember.allclose(t.grad, 2 * g)


@pytest.mark.parametrize('name,op,raises', CASES, ids=_IDS)
def test_second_backward_matches_torch(name, op, raises):
    torch = pytest.importorskip('torch')
    assert _second_backward(ember, op) == _second_backward(torch, op)


def test_upsample_nearest_keeps_its_index_arrays():
    # a known difference: PyTorch's nearest upsample saves nothing, ember's backward reads the index arrays
    x = _x(ember, 1, 1, 3)
    assert _second_backward(ember, lambda m: F_e.interpolate(x, scale_factor=2)) == 'raises'


def test_declaration_decides_release():
    x = ember.ones(3, requires_grad=True)

    def run(holds):
        y = record(x._data * 2, x._device, (x,), 'MulBackward0', (lambda g: g * 2,), holds=holds).sum()
        y.backward()
        y.backward()

    run(False)  # nothing declared: the node keeps its backward
    with pytest.raises(RuntimeError, match='backward through the graph a second time'):
        run(True)
    assert x.grad.tolist() == [6.0, 6.0, 6.0]  # two backwards, then one more before the refusal


def test_backward_frees_held_index():
    x = _x(ember, 4, 3)
    index = ember.tensor([[0, 1, 2], [3, 0, 1]])
    ref = weakref.ref(index)
    y = x.gather(0, index).sum()
    del index
    gc.collect()
    assert ref() is not None  # the gather node holds it for its backward
    y.backward()
    gc.collect()
    assert ref() is None


def test_backward_frees_held_mask():
    x = _x(ember, 6)
    cond = ember.tensor([True, False, True, False, True, True])
    ref = weakref.ref(cond._data)
    y = ember.where(cond, x, 0.0).sum()
    del cond
    gc.collect()
    assert ref() is not None  # WhereBackward0 holds the condition's array
    y.backward()
    gc.collect()
    assert ref() is None
    assert x.grad.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]


def _closure_data(fns, depth=3):
    """Whether backward closures keep an array or a tensor (looking into tuples and nested functions)."""
    for fn in fns:
        for cell in getattr(fn, '__closure__', None) or ():
            try:
                v = cell.cell_contents
            except ValueError:
                continue
            stack = [v]
            while stack:
                x = stack.pop()
                if isinstance(x, ember.Tensor) or hasattr(x, '__array_interface__'):
                    return True
                if isinstance(x, (tuple, list)):
                    stack.extend(x)
                elif depth and callable(x) and getattr(x, '__closure__', None) and _closure_data((x,), depth - 1):
                    return True
    return False


@pytest.mark.parametrize('name,op,raises', CASES, ids=_IDS)
def test_closures_holding_data_declare_it(name, op, raises, monkeypatch):
    # every node released on a backward whose closures keep data declares it, and
    # none declares it needlessly
    from ember.autograd import graph
    seen = []
    orig = graph.Node.release

    def release(node):
        if node.fns is not None and not callable(node.fns):
            held = _closure_data(node.fns)
            declared = bool(node.saved) or node.out_vc is not None or node.holds
            seen.append((node.name(), held, declared, node.holds))
        orig(node)
    monkeypatch.setattr(graph.Node, 'release', release)
    out = op(ember)
    y = (out * out).sum()
    y.backward()
    assert seen
    assert [s for s in seen if s[1] and not s[2]] == []  # holds data without declaring it
    assert [s for s in seen if s[3] and not s[1]] == []  # declares holds without holding data
