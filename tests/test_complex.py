"""Complex tensors: dtypes, promotion, creation, printing, views, ops and autograd, against PyTorch."""
import warnings

import numpy as np
import pytest

import ember
from _parity import torch, assert_parity, assert_same_outcome, assert_raises_like_torch
from conftest import needs_torch

Z1 = np.array([1 + 2j, -0.5 + 0.3j, 0.25 - 1.5j])
Z2 = np.array([0.3 - 1j, 2 + 0.5j, -1.25 + 0.75j])
R1 = np.array([0.7, -1.3, 0.45])
R2 = np.array([1.5, 0.4, 2.2])


# ---- dtypes ---------------------------------------------------------------------------------------------------------
def test_dtype_objects():
    assert ember.cfloat is ember.complex64 and ember.cdouble is ember.complex128
    assert repr(ember.complex64) == 'torch.complex64' and str(ember.cdouble) == 'torch.complex128'
    assert ember.complex64.is_complex and not ember.complex64.is_floating_point and ember.complex64.is_signed
    assert ember.complex64.itemsize == 8 and ember.complex128.itemsize == 16
    assert ember.complex64.to_real() is ember.float32 and ember.complex128.to_real() is ember.float64
    assert ember.float64.to_complex() is ember.complex128 and ember.float32.to_complex() is ember.complex64
    assert not ember.float32.is_complex
    z = ember.tensor([1j])
    assert z.is_complex() and ember.is_complex(z) and not z.is_floating_point()
    assert not ember.ones(1).is_complex()
    assert z.type() == 'torch.ComplexFloatTensor' and ember.typename(z) == 'torch.ComplexFloatTensor'
    assert ember.finfo(ember.complex64) == ember.finfo(ember.float32)
    assert ember.zeros(1, dtype='cdouble').dtype is ember.complex128


def test_complex32_is_refused_plainly():
    for name in ('complex32', 'chalf'):
        with pytest.raises(AttributeError, match='ember has no complex32'):
            getattr(ember, name)
    with pytest.raises(TypeError, match='complex32'):
        ember.ones(2).chalf()
    with pytest.raises(TypeError, match='complex32'):
        ember.view_as_complex(ember.ones(2, dtype=ember.float16))


def test_promotion_table():
    names = ['bool', 'uint8', 'int32', 'int64', 'float16', 'float32', 'float64', 'complex64', 'complex128']

    def dt(r):  # (no complex32 storage in ember: where PyTorch gives complex32, ember gives the next wider complex)
        return 'torch.complex64' if str(r.dtype) == 'torch.complex32' else str(r.dtype)

    def run(L):
        table = []
        for a in names:
            for b in names:
                if 'complex' not in a + b:
                    continue
                for sa, sb in (((2,), (2,)), ((2,), ()), ((), (2,))):
                    table.append((a, sa, b, sb, dt(L.ones(sa, dtype=getattr(L, a)) + L.ones(sb, dtype=getattr(L, b)))))
        for a in names[:7]:
            for s in (1j, 2 + 0j):
                x = L.ones(2, dtype=getattr(L, a))
                table.append((a, str(s), dt(x + s), dt(x * s)))
        return table
    assert_same_outcome(run)


def test_python_complex_follows_default_dtype():
    assert ember.tensor([1j]).dtype is ember.complex64
    assert (ember.ones(2, dtype=ember.int64) + 1j).dtype is ember.complex64
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.tensor([1j]).dtype is ember.complex128
        assert (ember.ones(2, dtype=ember.int64) + 1j).dtype is ember.complex128
        assert (ember.ones(2, dtype=ember.float32) + 1j).dtype is ember.complex64
        assert repr(ember.tensor([1j])) == 'tensor([0.+1.j])'
    finally:
        ember.set_default_dtype(ember.float32)


# ---- creation and conversion ---------------------------------------------------------------------------------------
def test_creation():
    assert ember.zeros(2, dtype=ember.cfloat).tolist() == [0j, 0j]
    assert ember.ones((), dtype=ember.cdouble).item() == 1 + 0j
    assert ember.empty(0, 3, dtype=ember.complex64).shape == (0, 3)
    assert ember.full((2,), 1 + 2j).dtype is ember.complex64
    assert ember.full((2,), 1 + 2j).tolist() == [1 + 2j, 1 + 2j]
    a = ember.tensor([1 + 2j, 3j])
    assert a.item if a.numel() != 1 else True
    assert a[0].item() == 1 + 2j and isinstance(a[0].item(), complex)
    assert a.numpy().dtype == np.complex64
    assert ember.from_numpy(np.array([1j])).dtype is ember.complex128
    assert ember.tensor(np.array([1j], dtype=np.complex64)).dtype is ember.complex64
    assert ember.tensor([1, 2]).cfloat().dtype is ember.complex64
    assert ember.tensor([1., 2]).cdouble().tolist() == [1 + 0j, 2 + 0j]
    assert ember.tensor([1, 2]).to(ember.complex64).dtype is ember.complex64
    z = ember.zeros(2, dtype=ember.complex64, requires_grad=True)
    assert z.requires_grad
    with pytest.warns(UserWarning, match='discards the imaginary part'):
        assert ember.tensor([1 + 2j]).to(ember.float32).tolist() == [1.0]


def test_random_matches_torch():
    for dt in ('complex64', 'complex128'):
        for f in ('randn', 'rand'):
            def draw(L):
                L.manual_seed(3)
                return getattr(L, f)(2, 3, dtype=getattr(L, dt))
            assert draw(ember).dtype is getattr(ember, dt)
            assert_parity(draw, grad=False, rtol=1e-6, atol=0)


# ---- printing --------------------------------------------------------------------------------------------------
PRINTS = [
    (lambda L: L.tensor([1 + 2j, 3j]), 'tensor([1.+2.j, 0.+3.j])'),
    (lambda L: L.tensor([1 + 2j, -10 - 30j, 100 + 1j]), 'tensor([  1.+2.j, -10.-30.j, 100.+1.j])'),
    (lambda L: L.tensor([1.5 + 2j, -1 - 10.25j]), 'tensor([ 1.5000+2.0000j, -1.0000-10.2500j])'),
    (lambda L: L.tensor(-1.5 - 2j), 'tensor(-1.5000-2.j)'),
    (lambda L: L.tensor(float('nan') * 1j), 'tensor(nan+nanj)'),
    (lambda L: L.zeros(2, 0, dtype=L.cfloat), 'tensor([], size=(2, 0), dtype=torch.complex64)'),
    (lambda L: L.zeros(0, dtype=L.cdouble), 'tensor([], dtype=torch.complex128)'),
    (lambda L: L.tensor([[1 + 2j], [3.25j]], dtype=L.cdouble),
     'tensor([[1.+2.0000j],\n        [0.+3.2500j]], dtype=torch.complex128)'),
    (lambda L: L.tensor([1e-5 + 1j, 1e5j]), 'tensor([1.0000e-05+1.0000e+00j, 0.0000e+00+1.0000e+05j])'),
    (lambda L: L.tensor([1 + 2j], requires_grad=True), 'tensor([1.+2.j], requires_grad=True)'),
    (lambda L: L.tensor([1 + 2j], requires_grad=True) * 2, 'tensor([2.+4.j], grad_fn=<MulBackward0>)'),
]


@pytest.mark.parametrize('i', range(len(PRINTS)))
def test_printing(i):
    make, text = PRINTS[i]
    assert repr(make(ember)) == text


@pytest.mark.parametrize('make', [
    lambda L: L.arange(30, dtype=L.float32).to(L.cfloat) * (1 + 1.5j),
    lambda L: (L.arange(2000.) * (1 + 0.5j)).reshape(40, 50),
    lambda L: (L.arange(24.) * (1 - 2j)).reshape(2, 3, 4),
    lambda L: L.tensor([[0.1234 + 5j, -2j], [7 - 0.5j, 1e3 + 0j]], dtype=L.cdouble),
])
def test_printing_matches_torch(make):
    assert_same_outcome(lambda L: repr(make(L)))


# ---- views -------------------------------------------------------------------------------------------------------
def test_view_as_real_and_complex_share_memory():
    z = ember.tensor([1 + 2j, 3 - 4j])
    r = ember.view_as_real(z)
    assert r.shape == (2, 2) and r.dtype is ember.float32 and r.tolist() == [[1, 2], [3, -4]]
    r[0, 1] = 7.
    assert z.tolist() == [1 + 7j, 3 - 4j]
    z[1] = 5j
    assert r.tolist() == [[1, 7], [0, 5]]
    x = ember.zeros(3, 2, dtype=ember.float64)
    c = ember.view_as_complex(x)
    assert c.shape == (3,) and c.dtype is ember.complex128
    c[2] = 4 + 4j
    assert x[2].tolist() == [4, 4]
    x[0, 0] = 9
    assert c[0].item() == 9
    assert ember.view_as_real(ember.tensor(1j)).shape == (2,)
    assert ember.view_as_complex(ember.ones(2)).shape == ()
    assert ember.view_as_complex(ember.ones(0, 2)).shape == (0,)
    assert ember.view_as_complex(ember.ones(3, 4)[:, :2]).tolist() == [1 + 1j] * 3


def test_real_imag_views_and_setters():
    z = ember.tensor([1 + 2j, 3 - 4j])
    re, im = z.real, z.imag
    assert re.tolist() == [1, 3] and im.tolist() == [2, -4] and re.dtype is ember.float32
    re[0] = 10
    im.mul_(2)
    assert z.tolist() == [10 + 4j, 3 - 8j]
    z.imag = ember.tensor([5., 6.])
    z.real = 0
    assert z.tolist() == [5j, 6j]
    assert ember.real(z).tolist() == [0, 0] and ember.imag(z).tolist() == [5, 6]
    x = ember.ones(2)
    assert x.real is x and ember.real(x) is x
    with pytest.raises(RuntimeError, match='imag is not implemented for tensors with non-complex dtypes.'):
        x.imag


def test_view_errors():
    with pytest.raises(RuntimeError, match='view_as_real is only supported for complex tensors'):
        ember.view_as_real(ember.ones(2))
    with pytest.raises(RuntimeError, match='Tensor must have a last dimension of size 2'):
        ember.view_as_complex(ember.ones(3))
    with pytest.raises(RuntimeError, match='Tensor must have a last dimension with stride 1'):
        ember.view_as_complex(ember.ones(2, 2).t())
    with pytest.raises(RuntimeError, match='but got a tensor of scalar type: Long'):
        ember.view_as_complex(ember.ones(2, 2, dtype=ember.int64))


def test_backward_needs_real_output():
    z = ember.tensor(1 + 2j, requires_grad=True)
    with pytest.raises(RuntimeError, match='grad can be implicitly created only for real scalar outputs but got '
                                           r'torch.complex64'):
        (z * 2).backward()
    with pytest.raises(RuntimeError, match='only for scalar outputs'):
        (z.expand(2) * 2).backward()


# ---- ops and gradients against PyTorch ------------------------------------------------------------------------------
CASES = {
    'mul': (lambda L, a, b: a * b, Z1, Z2),
    'mul_real': (lambda L, a, b: a * b, Z1, R1),
    'div': (lambda L, a, b: a / b, Z1, Z2),
    'rdiv_real': (lambda L, a, b: b / a, Z1, R1),
    'add_sub': (lambda L, a, b: (a + b) - 2 * b + 1j, Z1, Z2),
    'scalar': (lambda L, a: a * (2 - 3j) + 1j, Z1),
    'real_times_scalar': (lambda L, r: r * (2 - 3j), R1),
    'abs': (lambda L, a: a.abs(), Z1),
    'angle': (lambda L, a: a.angle(), Z1),
    'sgn': (lambda L, a: a.sgn(), Z1),
    'exp': (lambda L, a: a.exp(), Z1),
    'log': (lambda L, a: L.log(a), Z1),
    'sqrt': (lambda L, a: a.sqrt(), Z1),
    'rsqrt': (lambda L, a: a.rsqrt(), Z1),
    'pow2': (lambda L, a: a ** 2, Z1),
    'pow_complex': (lambda L, a, b: a ** b, Z1, Z2),
    'reciprocal': (lambda L, a: a.reciprocal(), Z1),
    'sin_tanh': (lambda L, a: a.sin() + a.tanh(), Z1),
    'conj': (lambda L, a: a.conj() * a, Z1),
    'conj_physical': (lambda L, a: L.conj_physical(a) * 2, Z1),
    'real_imag': (lambda L, a: a.real * 2 + a.imag * 3, Z1),
    'real_imag_fns': (lambda L, a: L.real(a) - L.imag(a), Z1),
    'view_as_real': (lambda L, a: L.view_as_real(a) * L.tensor([[1., 2.]], dtype=L.float64), Z1),
    'view_as_complex': (lambda L, r: L.view_as_complex(r) * (1 + 2j), np.array([[1., 2.], [3., 4.]])),
    'complex': (lambda L, a, b: L.complex(a, b) * (2 - 1j), R1, R2),
    'complex_broadcast': (lambda L, a, b: L.complex(a, b), R1, np.array(0.5)),
    'polar': (lambda L, a, b: L.polar(a, b), R2, R1),
    'matmul': (lambda L, a, b: a.reshape(3, 1) @ b.reshape(1, 3), Z1, Z2),
    'mm_square': (lambda L, a: a.reshape(3, 1) @ a.reshape(1, 3) @ a.reshape(3, 1), Z1),
    'sum_mean': (lambda L, a: (a * a).sum() + (a * 2).mean(), Z1),
    'sum_dim': (lambda L, a: (a.reshape(3, 1) * a).sum(0), Z1),
    'cast_up': (lambda L, r: r.to(L.complex128) * (1 + 1j), R1),
    'prod': (lambda L, a: a.prod(), Z1),
    'index_stack': (lambda L, a, b: L.stack([a[1] * a[0], b[2]]), Z1, Z2),
    'mH': (lambda L, a: a.reshape(3, 1).mH @ a.reshape(3, 1), Z1),
    'zero_dim': (lambda L, a: a * a, np.array(1 - 2j)),
    'empty': (lambda L, a: a * 2 + a.abs(), np.zeros(0, complex)),
    'complex64': (lambda L, a, b: a * b + a.abs(), Z1.astype(np.complex64), Z2.astype(np.complex64)),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_op_parity(name):
    fn, *arrays = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert_parity(fn, *arrays, rtol=1e-5 if name == 'complex64' else 1e-6)


# ---- PyTorch's refusals on complex inputs ---------------------------------------------------------------------------
REFUSALS = {
    'lt': lambda L, z: z < 1, 'gt': lambda L, z: z > z, 'le': lambda L, z: z <= z, 'ge': lambda L, z: L.ge(z, z),
    'max': lambda L, z: z.max(), 'min': lambda L, z: L.min(z), 'max_dim': lambda L, z: z.max(0),
    'amax': lambda L, z: z.amax(), 'argmax': lambda L, z: z.argmax(), 'argmin': lambda L, z: z.argmin(0),
    'sort': lambda L, z: z.sort(), 'argsort': lambda L, z: z.argsort(), 'topk': lambda L, z: z.topk(1),
    'clamp': lambda L, z: z.clamp(0, 1), 'relu': lambda L, z: L.relu(z), 'maximum': lambda L, z: L.maximum(z, z),
    'minimum': lambda L, z: L.minimum(z, z), 'floor': lambda L, z: z.floor(), 'ceil': lambda L, z: z.ceil(),
    'trunc': lambda L, z: z.trunc(), 'round': lambda L, z: z.round(), 'sign': lambda L, z: z.sign(),
    'remainder': lambda L, z: z % 2, 'fmod': lambda L, z: L.fmod(z, 2), 'floordiv': lambda L, z: z // 2,
    'median': lambda L, z: z.median(), 'cummax': lambda L, z: z.cummax(0), 'kthvalue': lambda L, z: z.kthvalue(1),
    'aminmax': lambda L, z: z.aminmax(), 'atan2': lambda L, z: L.atan2(z, z),
    'real_lt_complex': lambda L, z: z.real < 1j,
    'imag_of_real': lambda L, z: z.real.imag,
    'complex_mixed': lambda L, z: L.complex(L.ones(2), L.ones(2, dtype=L.float64)),
    'complex_int': lambda L, z: L.complex(L.ones(2, dtype=L.long), L.ones(2, dtype=L.long)),
    'polar_mixed': lambda L, z: L.polar(L.ones(2), L.ones(2, dtype=L.float64)),
}


@pytest.mark.parametrize('name', sorted(REFUSALS))
def test_refusals_match_torch(name):
    fn = REFUSALS[name]
    assert_raises_like_torch(lambda L: fn(L, L.tensor([1 + 2j, 3 - 1j])), same_message=True)


# ---- linalg.eig / eigvals ------------------------------------------------------------------------------------------
@pytest.mark.parametrize('cplx', [False, True])
def test_eig_values_and_gradients(cplx):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 3)) + (1j * rng.standard_normal((2, 3, 3)) if cplx else 0)
    wts = np.arange(9.).reshape(3, 3)

    def fn(L, A):
        A.requires_grad_()
        w, v = L.linalg.eig(A)
        # a loss that does not depend on the eigenvectors' arbitrary phases
        loss = (w.real * L.tensor([0.3, -1.2, 0.5], dtype=L.float64)).sum() + (w.imag * 0.7).sum() + \
            (v.abs() * L.tensor(wts)).sum()
        g, = L.autograd.grad(loss, A)
        ev = L.linalg.eigvals(A)
        g2, = L.autograd.grad((ev * (1 - 2j)).real.sum(), A)
        return w, v.abs(), v * 0, g, ev, g2  # (v * 0: the eigenvectors' dtype, free of their phases)
    assert_parity(fn, a, grad=False, rtol=1e-6, atol=1e-9)


def test_eig_basics_and_errors():
    w, v = ember.linalg.eig(ember.tensor([[2., 0.], [0., 1.]]))
    assert w.dtype is ember.complex64 and v.dtype is ember.complex64 and w.tolist() == [2, 1]
    assert repr(ember.linalg.eig(ember.eye(1))) == ('torch.return_types.linalg_eig(\neigenvalues=tensor([1.+0.j]),'
                                                  '\neigenvectors=tensor([[1.+0.j]]))')
    assert ember.linalg.eigvals(ember.zeros(0, 0, dtype=ember.float64)).dtype is ember.complex128
    with pytest.raises(RuntimeError, match='must be batches of square matrices'):
        ember.linalg.eig(ember.ones(2, 3))
    with pytest.raises(RuntimeError, match='Unknown Complex ScalarType for Long'):
        ember.linalg.eig(ember.ones(2, 2, dtype=ember.int64))
    with pytest.raises(NotImplementedError, match='"linalg_eig_out_cpu" not implemented for \'Half\''):
        ember.linalg.eig(ember.ones(2, 2, dtype=ember.float16))
    with pytest.raises(RuntimeError, match='should not contain infs or NaNs'):
        ember.linalg.eigvals(ember.tensor([[float('nan'), 0.], [0., 1.]]))


# ---- reductions with real results, conj, creation refusals, save/load --------------------------------------------
@pytest.mark.parametrize('name', ['var', 'std', 'norm', 'vector_norm', 'vdot', 'logsumexp', 'where', 'sigmoid',
                                  'linspace_real', 'mean_dim'])
def test_more_parity(name):
    fn = {'var': lambda L, a: a.reshape(3, 1).expand(3, 2).var(0),
          'std': lambda L, a: L.std(a, correction=0),
          'norm': lambda L, a: a.norm(),
          'vector_norm': lambda L, a: L.linalg.vector_norm(a, 3),
          'vdot': lambda L, a, b: L.vdot(a, b),
          'logsumexp': lambda L, a: a.logsumexp(0),
          'where': lambda L, a: L.where(L.tensor([True, False, True]), a, 0.),
          'sigmoid': lambda L, a: a.sigmoid(),
          'linspace_real': lambda L, a: a * L.linspace(0, 1, 3),
          'mean_dim': lambda L, a: (a.reshape(3, 1) * a).mean(1)}[name]
    arrays = (Z1, Z2) if name == 'vdot' else (Z1,)
    assert_parity(fn, *arrays)


def test_creation_refusals():
    with pytest.raises(NotImplementedError, match='"arange_cpu" not implemented for \'ComplexDouble\''):
        ember.arange(3, dtype=ember.cdouble)
    with pytest.raises(RuntimeError, match='check_random_bounds handles only integral'):
        ember.randint(3, (2,), dtype=ember.cfloat)


def test_conj_flags_and_hermitian_views():
    z = ember.tensor([[1 + 2j, 3j], [1, -1j]])
    c = z.conj()
    assert c.is_conj() and not z.is_conj() and not c.resolve_conj().is_conj() and not c.conj().is_conj()
    assert ember.is_conj(c) and c.tolist() == [[1 - 2j, -3j], [1, 1j]]
    assert z.mH.tolist() == [[1 - 2j, 1], [-3j, 1j]] and z.mT.tolist() == [[1 + 2j, 1], [3j, -1j]]
    assert z.H.tolist() == z.mH.tolist() and z.adjoint().tolist() == z.mH.tolist()
    x = ember.ones(2)
    assert x.conj() is x and not x.conj().is_conj() and ember.conj_physical(x).tolist() == [1, 1]
    assert ember.isreal(ember.tensor([1 + 0j, 1j])).tolist() == [True, False]


def test_save_load_roundtrip(tmp_path):
    z = ember.tensor([1 + 2j, 3 - 4j])
    d = ember.tensor([[1j, 2]], dtype=ember.cdouble)
    for i, obj in enumerate(({'z': z}, {'z': z, 'd': d}, [z, d])):
        ember.save(obj, tmp_path / f'{i}.pt')
        out = ember.load(tmp_path / f'{i}.pt')
        vals = out.values() if isinstance(out, dict) else out
        for a, b in zip(vals, obj.values() if isinstance(obj, dict) else obj):
            assert a.dtype is b.dtype and a.tolist() == b.tolist()


@needs_torch
def test_loads_pytorch_complex_checkpoints(tmp_path):
    torch.save({'z': torch.tensor([1 + 2j, 5j]), 'd': torch.tensor([[2j, 1]], dtype=torch.cdouble).t()},
               tmp_path / 'c.pt')
    out = ember.load(tmp_path / 'c.pt')
    assert out['z'].dtype is ember.complex64 and out['z'].tolist() == [1 + 2j, 5j]
    assert out['d'].dtype is ember.complex128 and out['d'].tolist() == [[2j], [1]]


# ---- autograd through in-place edits, views, double backward and mixed real/complex graphs -------------------------
def _inplace_mul_then_real_view(L):
    z = L.tensor([1 + 2j, -0.5 + 0.3j], requires_grad=True)
    y = z * 2
    y.mul_(1 - 1j)
    y.real.mul_(3)
    (y.abs() * L.tensor([0.3, 0.7])).sum().backward()
    return [y, z.grad]


def _write_through_view_as_complex(L):
    x = L.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    y = x * 1
    L.view_as_complex(y).mul_(1j)
    (y * L.tensor([[1., 2.], [3., 4.]])).sum().backward()
    return [y, x.grad]


def _imag_setter(L):
    z = L.tensor([1 + 2j, 3 - 1j], requires_grad=True)
    w = z.clone()
    w.imag = L.tensor([5., 6.])
    (w.abs() ** 2).sum().backward()
    return [w, z.grad]


def _setitem_view_as_real(L):
    z = L.tensor([1 + 2j, 3 - 1j], requires_grad=True)
    w = L.view_as_real(z * 1)
    w[0, 1] = 10.
    (w ** 2).sum().backward()
    return [w, z.grad]


def _double_backward(L):
    z = L.tensor([1 + 2j, 3 - 1j], requires_grad=True)
    g, = L.autograd.grad((z * z).real.sum(), z, create_graph=True)
    g2, = L.autograd.grad(g.abs().sum(), z)
    return [g, g2]


def _complex_grad_outputs(L):
    z = L.tensor([1 + 2j, 3 - 1j], requires_grad=True)
    y = (z.exp() * z.sin() / (z + 2)).sqrt().log()
    gz, = L.autograd.grad(y, z, grad_outputs=L.tensor([1 - 1j, 0.5j]))
    return [y, gz]


def _real_leaf_complex_graph(L):
    x = L.tensor([0.5, -1.], requires_grad=True)
    z = x * (1 + 2j)
    (z.real + z.imag + (z ** 2.5).abs()).sum().backward()
    return [x.grad]


def _conj_grad(L):
    z = L.tensor([1 + 2j, 3 - 1j], requires_grad=True)
    w = z.conj()
    (w * L.tensor([1j, 2])).real.sum().backward()
    return [w.resolve_conj(), z.grad.resolve_conj(), z.grad.is_conj(), w.is_conj()]


GRAPHS = [_inplace_mul_then_real_view, _write_through_view_as_complex, _imag_setter, _setitem_view_as_real,
          _double_backward, _complex_grad_outputs, _real_leaf_complex_graph, _conj_grad]


@pytest.mark.parametrize('make', GRAPHS, ids=[f.__name__[1:] for f in GRAPHS])
def test_graph_parity(make):
    assert_parity(lambda L: make(L), grad=False, rtol=1e-5, atol=1e-6)


def test_conj_bit_numpy_refusal():
    c = ember.tensor([1j]).conj()
    with pytest.raises(RuntimeError, match='conjugate bit set'):
        c.numpy()
    with pytest.raises(RuntimeError, match='conjugate bit set'):
        c.detach().numpy()
    assert c.resolve_conj().numpy().tolist() == [-1j]


def test_inplace_random_and_casts_match_torch():
    for name, args in (('normal_', ()), ('normal_', (2., 3.)), ('uniform_', (2., 3.))):
        def draw(L):
            L.manual_seed(0)
            return getattr(L.zeros(3, dtype=L.cfloat), name)(*args)
        assert_parity(draw, grad=False, rtol=1e-5, atol=0, check_dtype=False)
    with pytest.raises(NotImplementedError, match='bernoulli_'):
        ember.zeros(2, dtype=ember.cfloat).bernoulli_()
    z = [0j, 1j, 2 + 0j]
    assert ember.tensor(z).bool().tolist() == [False, True, True]
    assert_same_outcome(lambda L: L.tensor(z).bool().tolist())
    assert ember.tensor(z).any().item() and not ember.tensor(z).all().item()
    assert_parity(lambda L, a: 2 ** a + 0.5 ** a, Z1)


@pytest.mark.parametrize('name,kw', [('SGD', dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
                                     ('Adam', dict(lr=0.1, amsgrad=True, weight_decay=0.1)), ('AdamW', dict(lr=0.1)),
                                     ('RMSprop', dict(lr=0.01)), ('Adagrad', dict(lr=0.1)), ('NAdam', dict(lr=0.1))])
def test_optimizers_update_complex_parameters_as_pairs(name, kw):
    def train(L):
        p = L.nn.Parameter(L.tensor([1 + 2j, -0.5 + 0.3j]))
        q = L.nn.Parameter(L.tensor([0.5, 1.5]))
        opt = getattr(L.optim, name)([p, q], **kw)
        for _ in range(4):
            opt.zero_grad()
            ((p * L.tensor([1 - 1j, 2j])).abs().sum() + (q * p).abs().sum()).backward()
            opt.step()
        return p, q
    assert_parity(train, grad=False, rtol=1e-5, atol=1e-6, check_dtype=False)


@pytest.mark.parametrize('name', ['inv', 'det', 'slogdet', 'cholesky', 'eigh', 'solve'])
def test_complex_linalg_not_yet_supported_says_so(name):
    a = ember.eye(2, dtype=ember.complex64)
    args = (a, a) if name == 'solve' else (a,)
    with pytest.raises(NotImplementedError, match=f'linalg.{name}: ember does not support complex input yet'):
        getattr(ember.linalg, name)(*args)


@pytest.mark.parametrize('start, end, steps, dtype', [
    (0, 1j, 3, None), (0, 1j, 7, None), (1 + 2j, -3.5 + 0.25j, 11, None), (0.1, 0.7j, 50, 'complex128'),
    (2j, 3, 1, None), (0, 1j, 0, None), (0.3 + 0.1j, 1.7 - 2.2j, 101, 'complex64'), (0, 1, 5, 'complex64'),
])
def test_complex_linspace_matches_torch_bit_for_bit(start, end, steps, dtype):
    # PyTorch's complex linspace is the real linspace of the real parts and of the imaginary parts
    torch = pytest.importorskip('torch')
    t = torch.linspace(start, end, steps, **({'dtype': getattr(torch, dtype)} if dtype else {}))
    e = ember.linspace(start, end, steps, **({'dtype': getattr(ember, dtype)} if dtype else {}))
    assert str(e.dtype) == str(t.dtype)
    assert np.array_equal(e.numpy(), t.numpy())


def test_complex_linspace_into_a_real_dtype_raises_as_torch():
    with pytest.raises(RuntimeError, match="inferred dtype c10::complex<float> can't be safely cast to passed dtype "
                                           "Float"):
        ember.linspace(0, 1j, 3, dtype=ember.float32)
