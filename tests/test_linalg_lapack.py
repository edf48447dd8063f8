"""geqrf, ormqr, linalg.householder_product (orgqr) and linalg.ldl_factor/_ex/ldl_solve against PyTorch."""
import numpy as np
import pytest

import ember
from conftest import needs_torch
from _parity import torch, Rnd, assert_parity, assert_same_outcome, gradcheck_op

rnd = Rnd(0)

pytest.importorskip('scipy')


def _sym(*shape, seed=0):
    a = rnd(*shape, seed=seed)
    return a + np.swapaxes(a, -1, -2)


# ---- geqrf ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('shape', [(5, 5), (6, 3), (3, 6), (2, 4, 3), (5, 0), (0, 3), (2, 0, 3), (1, 1)])
@pytest.mark.parametrize('dtype', ['float64', 'float32'])
def test_geqrf_matches_lapack_format(shape, dtype):
    a = rnd(*shape, seed=0).astype(dtype)
    assert_parity(lambda T, x: T.geqrf(x), a, grad=False, rtol=1e-4 if dtype == 'float32' else 1e-10, atol=1e-5)
    assert_parity(lambda T, x: x.geqrf(), a, grad=False, rtol=1e-4 if dtype == 'float32' else 1e-10, atol=1e-5)


def test_geqrf_errors_and_no_derivative():
    with pytest.raises(RuntimeError, match='torch.geqrf: input must have at least 2 dimensions.'):
        ember.geqrf(ember.zeros(3))
    with pytest.raises(NotImplementedError, match="\"geqrf_cpu\" not implemented for 'Long'"):
        ember.geqrf(ember.zeros(3, 2, dtype=ember.int64))
    a = ember.tensor(rnd(3, 3, seed=0), requires_grad=True)
    r = ember.geqrf(a)
    assert type(r).__name__ == 'geqrf' and r.a.grad_fn.name() == 'GeqrfBackward0'
    with pytest.raises(NotImplementedError, match="the derivative for 'geqrf' is not implemented."):
        r.a.sum().backward()


def test_geqrf_out():
    x = ember.tensor(rnd(4, 3, seed=0))
    a, tau = ember.empty(0), ember.empty(0)
    r = ember.geqrf(x, out=(a, tau))
    assert r.a is a and r.tau is tau and a.shape == (4, 3) and tau.shape == (3,)
    np.testing.assert_allclose(a.numpy(), ember.geqrf(x).a.numpy())


# ---- householder_product / orgqr ----------------------------------------------------------------------------------
HP_CASES = [((5, 5), (5,)), ((6, 4), (4,)), ((6, 4), (2,)), ((2, 5, 3), (2, 3)), ((4, 3), (0,)), ((0, 0), (0,)),
            ((3, 1, 4, 4), (3, 1, 2))]


@pytest.mark.parametrize('ashape,tshape', HP_CASES)
def test_householder_product_parity(ashape, tshape):
    a, tau = rnd(*ashape, seed=1), rnd(*tshape, seed=2)
    assert_parity(lambda T, x, t: T.linalg.householder_product(x, t), a, tau, rtol=1e-9, atol=1e-10)
    assert_parity(lambda T, x, t: T.orgqr(x, t), a, tau, rtol=1e-9, atol=1e-10)


def test_householder_product_of_geqrf_is_q():
    x = ember.tensor(rnd(2, 6, 4, seed=0))
    a, tau = ember.geqrf(x)
    q = ember.linalg.householder_product(a, tau)
    np.testing.assert_allclose((q @ ember.triu(a[..., :4, :])).numpy(), x.numpy(), atol=1e-12)
    assert q.dtype == ember.float64
    q32 = ember.linalg.householder_product(a.float(), tau.float())
    assert q32.dtype == ember.float32


def test_householder_product_gradcheck_and_double_backward():
    gradcheck_op(lambda T, x, t: T.linalg.householder_product(x, t), rnd(5, 3, seed=3), rnd(3, seed=4))
    assert ember.autograd.gradgradcheck(lambda x, t: ember.linalg.householder_product(x, t),
                                        (ember.tensor(rnd(4, 3, seed=0), requires_grad=True),
                                         ember.tensor(rnd(2, seed=5), requires_grad=True)))


@pytest.mark.parametrize('ashape,tshape', [((3, 4), (2,)), ((4, 3), (4,)), ((4, 3), (2, 2)), ((4,), (2,)),
                                           ((2, 4, 3), (3, 2))])
def test_householder_product_errors(ashape, tshape):
    def msg(T):
        with pytest.raises(RuntimeError) as e:
            T.linalg.householder_product(T.zeros(ashape), T.zeros(tshape))
        return str(e.value)
    assert_same_outcome(msg)
    with pytest.raises(NotImplementedError, match='"orgqr_cpu" not implemented for \'Long\''):
        ember.orgqr(ember.zeros(3, 2, dtype=ember.int64), ember.zeros(2, dtype=ember.int64))


# ---- ormqr ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('left', [True, False])
@pytest.mark.parametrize('transpose', [True, False])
@pytest.mark.parametrize('ashape,tshape,cshape', [((5, 5), (5,), (5, 5)), ((5, 3), (3,), (5, 2)),
                                                  ((2, 4, 2), (2, 2), (2, 4, 4)), ((0, 0), (0,), (0, 3))])
def test_ormqr_parity(left, transpose, ashape, tshape, cshape):
    a, tau, c = rnd(*ashape, seed=1), rnd(*tshape, seed=2), rnd(*cshape, seed=3)
    if not left:
        c = np.swapaxes(c, -1, -2).copy()
    assert_parity(lambda T, x, t, o: T.ormqr(x, t, o, left=left, transpose=transpose), a, tau, c,
                  rtol=1e-9, atol=1e-10)
    assert_parity(lambda T, x, t, o: x.ormqr(t, o, left, transpose), a, tau, c, rtol=1e-9, atol=1e-10)


def test_ormqr_is_q_product():
    x = ember.tensor(rnd(5, 3, seed=0))
    a, tau = ember.geqrf(x)
    c = ember.tensor(rnd(5, 2, seed=7))
    q = ember.linalg.householder_product(ember.cat([a, ember.zeros(5, 2, dtype=a.dtype)], 1),
                                         ember.cat([tau, ember.zeros(2, dtype=tau.dtype)]))
    np.testing.assert_allclose(ember.ormqr(a, tau, c).numpy(), (q @ c).numpy(), atol=1e-12)
    np.testing.assert_allclose(ember.ormqr(a, tau, c, transpose=True).numpy(), (q.mT @ c).numpy(), atol=1e-12)
    gradcheck_op(lambda T, x, t, o: T.ormqr(x, t, o, left=False), rnd(3, 2, seed=0), rnd(2, seed=1), rnd(4, 3, seed=2))


@pytest.mark.parametrize('args,kw', [(((4, 3), (3,), (5, 2)), {}), (((4, 3), (3,), (4, 2)), {'left': False}),
                                     (((4, 3), (3,), (2, 4, 2)), {}), (((3,), (3,), (2, 4)), {'left': False}),
                                     (((4, 3), (3,), (4,)), {'left': False})])
def test_ormqr_errors(args, kw):
    def msg(T):
        with pytest.raises(RuntimeError) as e:
            T.ormqr(*[T.zeros(s) for s in args], **kw)
        return str(e.value)
    assert_same_outcome(msg)


@pytest.mark.parametrize('args', [((4, 3), (2,), (4, 2)), ((4, 3), (3, 3), (4, 2)), ((2, 4, 3), (2, 3), (3, 4, 2)),
                                  ((2, 4, 3), (3, 3), (2, 4, 2))])
def test_ormqr_shape_errors(args):
    def msg(T):
        with pytest.raises(RuntimeError) as e:
            T.ormqr(*[T.zeros(s) for s in args])
        return str(e.value)
    assert_same_outcome(msg)
    with pytest.raises(NotImplementedError, match='"ormqr_cpu" not implemented for \'Long\''):
        ember.ormqr(*[ember.zeros(s, dtype=ember.int64) for s in ((4, 3), (3,), (4, 2))])


# ---- LDL^T ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('shape', [(5, 5), (2, 4, 4), (1, 1), (0, 0), (2, 0, 0), (3, 3)])
@pytest.mark.parametrize('dtype', ['float64', 'float32'])
def test_ldl_factor_parity(shape, dtype):
    a = _sym(*shape).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == 'float32' else dict(rtol=1e-10, atol=1e-12)
    assert_parity(lambda T, x: T.linalg.ldl_factor(x), a, grad=False, **tol)
    assert_parity(lambda T, x: T.linalg.ldl_factor_ex(x), a, grad=False, **tol)
    assert_parity(lambda T, x: T.linalg.ldl_factor(x, hermitian=True), a, grad=False, **tol)


def test_ldl_factor_indefinite_uses_2x2_pivots():
    a = np.array([[0., 1., 2.], [1., 0., 3.], [2., 3., 0.]])
    assert_parity(lambda T, x: T.linalg.ldl_factor(x), a, grad=False)
    assert (ember.linalg.ldl_factor(ember.tensor(a)).pivots < 0).any()


def test_ldl_factor_singular():
    r = ember.linalg.ldl_factor_ex(ember.zeros(3, 3))
    assert r.info.item() == 1 and r.info.dtype == ember.int32
    with pytest.raises(RuntimeError, match='torch.linalg.ldl_factor'):
        ember.linalg.ldl_factor(ember.zeros(3, 3))
    with pytest.raises(RuntimeError, match='singular'):
        ember.linalg.ldl_factor_ex(ember.zeros(3, 3), check_errors=True)


@pytest.mark.parametrize('ashape,bshape', [((5, 5), (5, 2)), ((2, 4, 4), (2, 4, 3)), ((4, 4), (3, 4, 1)),
                                           ((3, 3), (3, 0))])
def test_ldl_solve_parity(ashape, bshape):
    a, b = _sym(*ashape), rnd(*bshape, seed=5)

    def fn(T, x, y):
        LD, piv = T.linalg.ldl_factor(x)
        return T.linalg.ldl_solve(LD, piv, y)
    assert_parity(fn, a, b, grad=False, rtol=1e-9, atol=1e-10)
    if a.size and b.size:
        LD, piv = ember.linalg.ldl_factor(ember.tensor(a))
        x = ember.linalg.ldl_solve(LD, piv, ember.tensor(b))
        np.testing.assert_allclose((ember.tensor(a) @ x).numpy(), np.broadcast_to(b, x.shape), atol=1e-9)


def test_ldl_solve_broadcasts_batches():
    # (PyTorch 2.13 crashes on this broadcast, so the check is against per-matrix solves)
    a, b = ember.tensor(_sym(2, 1, 3, 3)), ember.tensor(rnd(4, 3, 2, seed=5))
    LD, piv = ember.linalg.ldl_factor(a)
    x = ember.linalg.ldl_solve(LD, piv, b)
    assert x.shape == (2, 4, 3, 2)
    for i in range(2):
        for j in range(4):
            np.testing.assert_allclose(x[i, j].numpy(), np.linalg.solve(a[i, 0].numpy(), b[j].numpy()), atol=1e-10)
    assert ember.linalg.ldl_solve(*ember.linalg.ldl_factor(ember.zeros(0, 0)), ember.zeros(0, 2)).shape == (0, 2)


def test_ldl_errors_and_no_derivative():
    def msg(T, f):
        with pytest.raises((RuntimeError, IndexError)) as e:
            f(T)
        return type(e.value).__name__ + str(e.value)
    LD = lambda T: T.linalg.ldl_factor(T.eye(3))  # noqa: E731
    for f in (lambda T: T.linalg.ldl_factor(T.zeros(3, 4)), lambda T: T.linalg.ldl_factor(T.zeros(3)),
              lambda T: T.linalg.ldl_factor(T.zeros(3, 3, dtype=T.int64)),
              lambda T: T.linalg.ldl_solve(*LD(T), T.zeros(3)), lambda T: T.linalg.ldl_solve(*LD(T), T.zeros(4, 2)),
              lambda T: T.linalg.ldl_solve(*LD(T), T.zeros(3, 2, dtype=T.float64))):
        assert_same_outcome(lambda T: msg(T, f))
    a = ember.tensor(_sym(3, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match='derivative for aten::linalg_ldl_factor_ex is not implemented'):
        ember.linalg.ldl_factor(a).LD.sum().backward()
    LDd, piv = ember.linalg.ldl_factor(a.detach())
    with pytest.raises(RuntimeError, match='derivative for aten::linalg_ldl_solve is not implemented'):
        ember.linalg.ldl_solve(LDd, piv, a).sum().backward()


@needs_torch
def test_keyword_names_are_torchs():
    e, t = ember.eye(3, dtype=ember.float64), torch.eye(3, dtype=torch.float64)
    for T, x in ((ember, e), (torch, t)):
        tau = x[0] * 0
        T.linalg.householder_product(input=x, tau=tau)
        T.orgqr(input=x, input2=tau)
        T.ormqr(input=x, input2=tau, input3=x, left=False, transpose=True)
        x.ormqr(input2=tau, input3=x)
        T.linalg.ldl_factor(input=x, hermitian=True)
        T.linalg.ldl_factor_ex(input=x, check_errors=True)
        T.linalg.ldl_solve(LD=x, pivots=T.arange(1, 4, dtype=T.int32), B=x, hermitian=False)
        T.geqrf(input=x)
    for T in (ember, torch):
        with pytest.raises(TypeError, match=r"argument 'input' \(position 1\) must be Tensor, not list"):
            T.linalg.householder_product([1.], T.zeros(1))


def test_ldl_out():
    a = ember.tensor(_sym(3, 3))
    LD, piv = ember.empty(0, dtype=ember.float64), ember.empty(0, dtype=ember.int32)
    r = ember.linalg.ldl_factor(a, out=(LD, piv))
    assert r.LD is LD and LD.shape == (3, 3) and piv.shape == (3,)
    np.testing.assert_array_equal(LD.numpy(), ember.linalg.ldl_factor(a).LD.numpy())
