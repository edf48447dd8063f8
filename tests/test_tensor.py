"""Tensor basics: dtypes, devices, promotion, methods, conversions, repr, and their errors (PyTorch parity)."""
import copy

import numpy as np
import pytest

import ember
from conftest import torch, needs_torch


# ---- dtypes and devices ---------------------------------------------------------------------------------------------

DTYPES = ['float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'bool']


@pytest.mark.parametrize('name', DTYPES)
def test_dtype_objects(name):
    dt = getattr(ember, name)
    assert isinstance(dt, ember.dtype)
    assert repr(dt) == f'torch.{name}'
    assert ember.zeros(2, dtype=dt).dtype is dt
    assert dt.is_floating_point == name.startswith('float')
    assert ember.tensor([1, 0], dtype=dt).dtype is dt


def test_dtype_aliases():
    assert ember.float is ember.float32 and ember.double is ember.float64 and ember.half is ember.float16
    assert ember.long is ember.int64 and ember.int is ember.int32 and ember.short is ember.int16
    assert ember.zeros(1, dtype=ember.long).dtype is ember.int64
    assert ember.zeros(1, dtype='float64').dtype is ember.float64
    assert ember.zeros(1, dtype=float).dtype is ember.float64  # Python's float is a double, as in PyTorch
    assert ember.zeros(1, dtype=int).dtype is ember.int64
    assert ember.zeros(1, dtype=bool).dtype is ember.bool
    assert ember.zeros(1, dtype=np.float64).dtype is ember.float64


@needs_torch
@pytest.mark.parametrize('name', DTYPES)
def test_dtype_properties_match_torch(name):
    e, t = getattr(ember, name), getattr(torch, name)
    assert e.is_floating_point == t.is_floating_point
    assert e.is_signed == t.is_signed
    assert e.itemsize == t.itemsize


def test_device():
    d = ember.device('cpu')
    assert d.type == 'cpu' and d.index is None and str(d) == 'cpu'
    assert repr(d) == "device(type='cpu')"
    assert ember.device(d) is d and ember.device('cpu') is d
    x = ember.zeros(2, device='cpu')
    assert x.device == d and x.device is d
    assert ember.ones(2, device=d).device is d
    assert ember.tensor([1.], device='cpu').is_cpu and not x.is_cuda
    assert x.to('cpu') is x and x.cpu() is x and x.to(d) is x
    with pytest.raises(RuntimeError, match='device type'):
        ember.device('tpu')


# ---- creation defaults and promotion --------------------------------------------------------------------------------

def test_creation_default_dtypes():
    assert ember.tensor([1.0, 2.0]).dtype is ember.float32
    assert ember.tensor(1.5).dtype is ember.float32
    assert ember.tensor([1, 2]).dtype is ember.int64
    assert ember.tensor([True, False]).dtype is ember.bool
    assert ember.tensor([1, 2.5]).dtype is ember.float32
    assert ember.tensor([True, 2]).dtype is ember.int64
    for f in (ember.zeros, ember.ones, ember.empty, ember.randn, ember.rand):
        assert f(2, 3).dtype is ember.float32
    assert (ember.tensor([1, 2]) > 1).dtype is ember.bool
    assert (ember.randn(3) == 0).dtype is ember.bool
    assert ember.arange(3).dtype is ember.int64 and ember.arange(3.0).dtype is ember.float32
    assert ember.full((2,), 3).dtype is ember.int64
    assert ember.full((2,), 3.0).dtype is ember.float32
    assert ember.full((2,), True).dtype is ember.bool


def test_numpy_inputs_keep_dtype():
    assert ember.tensor(np.zeros(2)).dtype is ember.float64
    assert ember.tensor(np.zeros(2, np.float32)).dtype is ember.float32
    assert ember.tensor(np.zeros(2, np.int32)).dtype is ember.int32
    assert ember.tensor(np.float64(1.5)).dtype is ember.float64
    assert ember.tensor([np.float64(1.5)]).dtype is ember.float64
    assert ember.tensor([np.float16(1.0), 2.5]).dtype is ember.float32
    assert ember.tensor(np.int32(3)).dtype is ember.int32
    assert ember.as_tensor(np.float64(2.0)).dtype is ember.float64


@needs_torch
@pytest.mark.parametrize('data', ['[1.5, 2]', '[[1, 2], [3, 4]]', '[True, False]', '[True, 3]', 'np.float64(3.5)',
                                  '[np.float64(1.5), 2.0]', '[np.float16(1), 1.5]', '[np.float32(1), 2]',
                                  '[np.int32(3)]', '[np.uint8(3), 4]', 'np.int16(2)', '(1, 2.5)', '3', 'True'])
def test_tensor_inference_matches_torch(data):
    e = ember.tensor(eval(data))
    t = torch.tensor(eval(data))
    assert str(e.dtype) == str(t.dtype)
    np.testing.assert_array_equal(e.numpy(), t.numpy())


PROMOTIONS = [
    ('T.tensor([1, 2]) + 1.5', 'float32'),
    ('T.tensor([1, 2]) * 2', 'int64'),
    ('T.tensor([1, 2], dtype=T.int32) * 5', 'int32'),
    ('T.tensor([1, 2]) / 2', 'float32'),
    ('T.tensor([1., 2.]) + T.tensor([1., 2.], dtype=T.float64)', 'float64'),
    ('T.tensor([1., 2.]) * 2.5', 'float32'),
    ('T.tensor([1., 2.], dtype=T.float16) * 2.5', 'float16'),
    ('T.tensor([1., 2.]) * T.tensor(2., dtype=T.float64)', 'float32'),
    ('T.tensor([1, 2]) * T.tensor(2.5, dtype=T.float64)', 'float64'),
    ('T.tensor([1, 2], dtype=T.int32) * T.tensor(2)', 'int32'),
    ('T.tensor([1, 2], dtype=T.uint8) + T.tensor([1, 2], dtype=T.int8)', 'int16'),
    ('T.tensor([True]) + 1', 'int64'),
    ('T.tensor([True]) + True', 'bool'),
    ('T.tensor([True]) * 1.5', 'float32'),
    ('T.tensor(1) + T.tensor([1.], dtype=T.float16)', 'float16'),
    ('T.tensor(1.) + T.tensor([1], dtype=T.int32)', 'float32'),
    ('T.tensor(1., dtype=T.float64) + T.tensor([1.], dtype=T.float16)', 'float16'),
    ('T.tensor(1., dtype=T.float64) + T.tensor(1.)', 'float64'),
    ('T.tensor([1., 2.]) * np.float64(2.0)', 'float32'),
    ('2.5 - T.tensor([1, 2], dtype=T.int16)', 'float32'),
]


@pytest.mark.parametrize('expr,want', PROMOTIONS)
def test_promotion(expr, want):
    assert eval(expr, {'T': ember, 'np': np}).dtype is getattr(ember, want)


@needs_torch
@pytest.mark.parametrize('expr,want', PROMOTIONS)
def test_promotion_matches_torch(expr, want):
    assert eval(expr, {'T': torch, 'np': np}).dtype is getattr(torch, want)


def test_default_dtype():
    assert ember.get_default_dtype() is ember.float32
    try:
        ember.set_default_dtype(ember.float64)
        assert ember.get_default_dtype() is ember.float64
        assert ember.tensor([1.5]).dtype is ember.float64
        assert ember.zeros(2).dtype is ember.float64 and ember.randn(2).dtype is ember.float64
        assert (ember.tensor([1, 2]) * 0.5).dtype is ember.float64
        assert ember.arange(2.0).dtype is ember.float64
        assert repr(ember.tensor([1.5])) == 'tensor([1.5000])'
        assert repr(ember.tensor([1.5], dtype=ember.float32)) == 'tensor([1.5000], dtype=torch.float32)'
    finally:
        ember.set_default_dtype(ember.float32)
    assert ember.tensor([1.5]).dtype is ember.float32
    with pytest.raises(TypeError):
        ember.set_default_dtype(ember.int64)


# ---- Size, Tensor class and module-level helpers --------------------------------------------------------------------

def test_size():
    x = ember.zeros(2, 3, 4)
    s = x.shape
    assert isinstance(s, ember.Size) and isinstance(s, tuple)
    assert s == (2, 3, 4) and x.size() == s and x.size(1) == 3 and x.size(-1) == 4
    assert isinstance(s[1:], ember.Size) and s[1:] == (3, 4)
    assert s.numel() == 24
    assert repr(s) == 'torch.Size([2, 3, 4])'
    assert repr(ember.Size([])) == 'torch.Size([])'
    assert ember.zeros(s).shape == s
    assert ember.Size([2, 3]) + (4,) == (2, 3, 4)
    with pytest.raises(IndexError):
        x.size(3)


def test_tensor_class():
    x = ember.randn(2)
    assert isinstance(x, ember.Tensor) and ember.is_tensor(x) and not ember.is_tensor([1.0])
    t = ember.Tensor([1, 2])
    assert t.dtype is ember.float32 and t.tolist() == [1.0, 2.0]
    assert ember.Tensor(2, 3).shape == (2, 3) and ember.Tensor(2, 3).dtype is ember.float32
    assert ember.Tensor(ember.Size([4])).shape == (4,)
    assert ember.Tensor().shape == (0,)
    assert isinstance(ember.zeros(1) + 1, ember.Tensor)


def test_module_helpers():
    a = ember.tensor([1.0, 2.0])
    assert ember.allclose(a, ember.tensor([1.0, 2.0 + 1e-9]))
    assert not ember.allclose(a, ember.tensor([1.0, 2.1]))
    assert ember.isclose(a, ember.tensor([1.0, 2.1])).tolist() == [True, False]
    assert ember.equal(a, ember.tensor([1.0, 2.0])) is True
    assert ember.equal(a, ember.tensor([1.0, 2.0, 3.0])) is False
    assert ember.numel(ember.zeros(2, 3)) == 6
    assert ember.is_floating_point(a) and not ember.is_floating_point(ember.tensor([1]))
    assert ember.is_grad_enabled() is True
    c = ember.clone(a)
    assert ember.equal(c, a) and c.data_ptr() != a.data_ptr()


# ---- methods --------------------------------------------------------------------------------------------------------

def test_shape_methods():
    x = ember.zeros(2, 3)
    assert x.dim() == 2 and x.ndim == 2 and x.numel() == 6 and len(x) == 2
    assert x.dtype is ember.float32 and x.device == ember.device('cpu')
    s = ember.tensor(5.0)
    assert s.dim() == 0 and s.shape == () and s.numel() == 1
    with pytest.raises(TypeError):
        len(s)


def test_item_tolist():
    assert ember.tensor([2.5]).item() == 2.5 and isinstance(ember.tensor(7).item(), int)
    assert isinstance(ember.tensor(True).item(), bool)
    assert ember.tensor([[1, 2]]).tolist() == [[1, 2]]
    assert ember.tensor(1.5).tolist() == 1.5
    with pytest.raises(RuntimeError, match='2 elements cannot be converted to Scalar'):
        ember.tensor([1.0, 2.0]).item()
    with pytest.raises(RuntimeError, match='ambiguous'):
        bool(ember.tensor([1.0, 2.0]))
    assert float(ember.tensor([3.0])) == 3.0 and int(ember.tensor(4)) == 4


def test_numpy_conversion():
    x = ember.tensor([1.0, 2.0])
    n = x.numpy()
    assert isinstance(n, np.ndarray) and n.dtype == np.float32
    n[0] = 9  # shares memory, as in PyTorch
    assert x[0].item() == 9
    r = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r'requires grad.*detach\(\)\.numpy\(\)'):
        r.numpy()
    with pytest.raises(RuntimeError):
        np.asarray(r)
    assert r.detach().numpy().tolist() == [1.0]
    assert np.asarray(x).dtype == np.float32


def test_clone_detach():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.requires_grad and c.grad_fn is not None and c.grad_fn.name() == 'CloneBackward0'
    assert c.data_ptr() != x.data_ptr()
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert d.data_ptr() == x.data_ptr()


def test_copy_fill_zero():
    x = ember.zeros(2, 3)
    assert x.fill_(2.5) is x and x.tolist() == [[2.5] * 3] * 2
    assert x.zero_() is x and x.sum().item() == 0
    x.copy_(ember.tensor([1, 2, 3]))  # broadcast and cast
    assert x.tolist() == [[1.0, 2.0, 3.0]] * 2 and x.dtype is ember.float32
    i = ember.zeros(2, dtype=ember.int64).fill_(2.7)
    assert i.tolist() == [2, 2]
    with pytest.raises(RuntimeError):
        ember.zeros(2).copy_(ember.tensor([1.0, 2.0, 3.0]))
    v0 = x._version
    x.fill_(1.0)
    assert x._version == v0 + 1


def test_to_and_casts():
    x = ember.tensor([1.7, -2.7])
    assert x.float() is x
    assert x.double().dtype is ember.float64
    assert x.half().dtype is ember.float16
    assert x.long().tolist() == [1, -2] and x.long().dtype is ember.int64
    assert x.int().dtype is ember.int32
    assert ember.tensor([1.7, 0.0]).bool().tolist() == [True, False]
    i = ember.tensor([1, 2])
    assert i.type_as(x).dtype is ember.float32
    assert i.to(ember.float64).dtype is ember.float64
    assert i.to(dtype=ember.float16).dtype is ember.float16
    assert i.to('cpu', ember.float32).dtype is ember.float32
    assert i.to(ember.device('cpu'), ember.int8).dtype is ember.int8
    assert i.to(x).dtype is ember.float32
    assert i.to(ember.int64) is i
    c = i.to(ember.int64, copy=True)
    assert c is not i and c.data_ptr() != i.data_ptr()
    assert i.type() == 'torch.LongTensor' and x.type() == 'torch.FloatTensor'
    assert x.type(ember.int32).dtype is ember.int32
    assert x.type('torch.DoubleTensor').dtype is ember.float64


def test_requires_grad_rules():
    x = ember.zeros(2)
    assert x.requires_grad is False and x.is_leaf
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(RuntimeError, match='floating point'):
        ember.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match='floating point'):
        ember.tensor([1, 2]).requires_grad_()
    y = x * 2
    with pytest.raises(RuntimeError, match='leaf'):
        y.requires_grad_(False)


def test_deepcopy():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = copy.deepcopy(x)
    assert y.requires_grad and y.data_ptr() != x.data_ptr() and y.tolist() == x.tolist()
    with pytest.raises(RuntimeError):
        copy.deepcopy(x * 2)


# ---- repr -----------------------------------------------------------------------------------------------------------

REPRS = [
    ('T.tensor([[1., 2.]], requires_grad=True)', 'tensor([[1., 2.]], requires_grad=True)'),
    ('T.tensor([1, 2, 3])', 'tensor([1, 2, 3])'),
    ('T.tensor([1.5, 2.25])', 'tensor([1.5000, 2.2500])'),
    ('T.tensor(3.)', 'tensor(3.)'),
    ('T.tensor(3)', 'tensor(3)'),
    ('T.tensor(True)', 'tensor(True)'),
    ('T.tensor([True, False])', 'tensor([ True, False])'),
    ('T.tensor([True, True])', 'tensor([True, True])'),
    ('T.tensor([[True], [False]])', 'tensor([[ True],\n        [False]])'),
    ('T.tensor([1., 2.], dtype=T.float64)', 'tensor([1., 2.], dtype=torch.float64)'),
    ('T.tensor([1., 2.], dtype=T.float16)', 'tensor([1., 2.], dtype=torch.float16)'),
    ('T.tensor([1, 2], dtype=T.int32)', 'tensor([1, 2], dtype=torch.int32)'),
    ('T.tensor([1, 2], dtype=T.uint8)', 'tensor([1, 2], dtype=torch.uint8)'),
    ('T.tensor([])', 'tensor([])'),
    ('T.zeros(2, 0)', 'tensor([], size=(2, 0))'),
    ('T.zeros(0, dtype=T.int32)', 'tensor([], dtype=torch.int32)'),
    ('T.tensor([1e-5, 1.])', 'tensor([1.0000e-05, 1.0000e+00])'),
    ('T.tensor([1e10, 1.])', 'tensor([1.0000e+10, 1.0000e+00])'),
    ('T.tensor([1.123456789, 100.5])', 'tensor([  1.1235, 100.5000])'),
    ("T.tensor([float('nan'), 1., float('inf')])", 'tensor([nan, 1., inf])'),
    ('T.tensor([-1., 2.])', 'tensor([-1.,  2.])'),
    ('T.tensor([1., 1001.])', 'tensor([1.0000e+00, 1.0010e+03])'),
    ('T.tensor([1., 1000.])', 'tensor([   1., 1000.])'),
    ('T.tensor([1.1e8, 1.])', 'tensor([1.1000e+08, 1.0000e+00])'),
    ('T.tensor([[1., 2.], [3., 4.]]) * 2', 'tensor([[2., 4.],\n        [6., 8.]])'),
    ('T.tensor([1., 2.], requires_grad=True) * 2', 'tensor([2., 4.], grad_fn=<MulBackward0>)'),
    ('T.tensor([1., 2.], requires_grad=True).sum()', 'tensor(3., grad_fn=<SumBackward0>)'),
    ('T.tensor(2.5, requires_grad=True)', 'tensor(2.5000, requires_grad=True)'),
    ('T.ones(2, dtype=T.float64, requires_grad=True)', 'tensor([1., 1.], dtype=torch.float64, requires_grad=True)'),
    ('T.arange(6).reshape(2, 3)', 'tensor([[0, 1, 2],\n        [3, 4, 5]])'),
    ('T.tensor([1, -20000])', 'tensor([     1, -20000])'),
    ('T.arange(2000)', 'tensor([   0,    1,    2,  ..., 1997, 1998, 1999])'),
    ('T.arange(1001.)', 'tensor([   0.,    1.,    2.,  ...,  998.,  999., 1000.])'),
    ('T.ones(1001) > 0', 'tensor([True, True, True,  ..., True, True, True])'),
    ('T.arange(2000.)', 'tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n'
                        '        1.9990e+03])'),
]


@pytest.mark.parametrize('expr,want', REPRS)
def test_repr(expr, want):
    assert repr(eval(expr, {'T': ember})) == want


@needs_torch
@pytest.mark.parametrize('expr,want', REPRS)
def test_repr_matches_torch(expr, want):
    assert repr(eval(expr, {'T': torch})) == want


@needs_torch
def test_repr_table_matches_torch():
    exprs = ['T.arange(12.).reshape(2, 2, 3) / 7', 'T.linspace(-1, 1, 1500)', 'T.arange(3000).reshape(30, 100) - 1500',
             'T.tensor([0.5, 12345.])', 'T.tensor([0.001, 1000.5])', 'T.tensor(1e-8)', 'T.tensor(123456789.)',
             'T.eye(3, dtype=T.int8)', 'T.tensor([[1.5, 2.25], [-3.125, 4.]], requires_grad=True)',
             'T.zeros(2, 0, 3)', 'T.tensor([[]])', 'T.tensor([1.0e-10, 0.])', 'T.tensor(-0.5)']
    for e in exprs:
        assert repr(eval(e, {'T': ember})) == repr(eval(e, {'T': torch})), e


def test_set_printoptions():
    try:
        ember.set_printoptions(precision=2)
        assert repr(ember.tensor([1.23456])) == 'tensor([1.23])'
        ember.set_printoptions(threshold=5, edgeitems=2)
        assert repr(ember.arange(10)) == 'tensor([0, 1,  ..., 8, 9])'
        ember.set_printoptions(sci_mode=True)
        assert 'e+00' in repr(ember.tensor([1.5]))
    finally:
        ember.set_printoptions(profile='default')
    assert repr(ember.tensor([1.23456])) == 'tensor([1.2346])'
    assert repr(ember.arange(10)) == 'tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])'


@needs_torch
def test_set_printoptions_matches_torch():
    try:
        for lib in (ember, torch):
            lib.set_printoptions(precision=2, threshold=5, edgeitems=2)
        for e in ('T.tensor([1.23456, 2.5])', 'T.arange(10)', 'T.arange(10.) / 3'):
            assert repr(eval(e, {'T': ember})) == repr(eval(e, {'T': torch})), e
    finally:
        ember.set_printoptions(profile='default')
        torch.set_printoptions(profile='default')


def test_inplace_on_single_element_writes_through():
    x = ember.zeros(3)
    x[0] += 1
    y = ember.zeros(2, 2, dtype=ember.int64)
    y[1, 1] += 5
    y[0][1] -= 2
    assert x.tolist() == [1.0, 0.0, 0.0]
    assert y.tolist() == [[0, -2], [0, 5]]
    w = ember.ones(3, requires_grad=True)
    z = w * 2
    z[1] *= 3
    z.sum().backward()
    assert w.grad.tolist() == [2.0, 6.0, 2.0]


def test_legacy_typed_constructors():
    a = ember.FloatTensor([1, 2])
    b = ember.LongTensor(2, 3)
    assert a.dtype is ember.float32 and a.tolist() == [1.0, 2.0]
    assert b.dtype is ember.int64 and b.shape == (2, 3)
    assert isinstance(a, ember.FloatTensor) and not isinstance(b, ember.FloatTensor)


# ---- the ndarray invariant: every Tensor holds an ndarray of its device, 0-dim results included -------------------

ZERO_DIM_RESULTS = {
    'mul': lambda T: T.tensor(2.0) * T.tensor(3.0), 'add': lambda T: T.tensor(2.0) + T.tensor(3.0),
    'neg': lambda T: -T.tensor(2.0), 'exp': lambda T: T.tensor(0.5).exp(), 'relu': lambda T: T.tensor(2.0).relu(),
    'pow2': lambda T: T.tensor(2.0) ** 2, 'std': lambda T: T.tensor([1.0, 2.0, 4.0]).std(),
    'lt': lambda T: T.tensor(2.0) < T.tensor(3.0), 'eq': lambda T: T.tensor(2) == T.tensor(2),
    'int_add': lambda T: T.tensor(2) + T.tensor(3), 'sum': lambda T: T.tensor([1.0, 2.0]).sum(),
}
ZERO_DIM_INPLACE = {
    'zero_': lambda t, T: t.zero_(), 'fill_': lambda t, T: t.fill_(5), 'add_': lambda t, T: t.add_(1),
    'sub_': lambda t, T: t.sub_(1), 'mul_': lambda t, T: t.mul_(2), 'div_': lambda t, T: t.div_(2),
    'pow_': lambda t, T: t.pow_(2), 'iadd': lambda t, T: t.__iadd__(1), 'imul': lambda t, T: t.__imul__(3),
    'copy_': lambda t, T: t.copy_(T.tensor(7.0)), 'clamp_': lambda t, T: t.clamp_(0, 1), 'neg_': lambda t, T: t.neg_(),
    'exp_': lambda t, T: t.exp_(), 'abs_': lambda t, T: t.abs_(), 'sqrt_': lambda t, T: t.sqrt_(),
    'setitem': lambda t, T: t.__setitem__(..., 9),
}


@pytest.mark.parametrize('make', ZERO_DIM_RESULTS.values(), ids=list(ZERO_DIM_RESULTS))
def test_zero_dim_results_hold_arrays(make):
    t = make(ember)
    assert type(t._data) is np.ndarray and t._data.shape == ()


@needs_torch
@pytest.mark.parametrize('op', ZERO_DIM_INPLACE.values(), ids=list(ZERO_DIM_INPLACE))
@pytest.mark.parametrize('make', ZERO_DIM_RESULTS.values(), ids=list(ZERO_DIM_RESULTS))
def test_inplace_methods_on_zero_dim_results(make, op):
    def run(T):
        t = make(T)
        try:
            r = op(t, T)
        except Exception as e:
            return type(e)
        assert r is t or r is None  # (__setitem__ returns None)
        return str(t.dtype).split('.')[-1], t.shape, t.item()
    e, t = run(ember), run(torch)
    if isinstance(e, tuple) and isinstance(t, tuple):
        assert e[:2] == (t[0], tuple(t[1]))
        np.testing.assert_allclose(e[2], t[2], rtol=1e-6, equal_nan=True)
    else:
        assert e == t


def test_zero_dim_grad_zero_():
    x = ember.tensor(2.0, requires_grad=True)
    (x * 3).backward()
    x.grad.zero_()
    assert x.grad.item() == 0.0
    (x * 3).backward()
    assert x.grad.item() == 3.0


@needs_torch
def test_zero_grad_keep_on_zero_dim_parameter_matches_torch():
    def train(T):
        p = T.nn.Parameter(T.tensor(1.0))
        opt = T.optim.SGD([p], lr=0.1)
        for _ in range(3):
            opt.zero_grad(set_to_none=False)
            (p * 2).backward()
            opt.step()
        return p.item()
    assert train(ember) == pytest.approx(train(torch)) == pytest.approx(0.4)
