"""ember.linalg and the top-level matrix functions: float64 gradcheck, PyTorch parity, errors, empty/batched inputs."""
import numpy as np
import pytest

import ember
from _parity import Rnd, assert_parity, gradcheck_op

rnd = Rnd(12)


def well(*shape):
    """Well-conditioned square matrices (identity plus noise)."""
    return rnd(*shape) * 0.3 + np.eye(shape[-1])


def spd(*shape):
    a = rnd(*shape)
    return a @ a.swapaxes(-1, -2) + shape[-1] * np.eye(shape[-1])


def _fix_sign(v):
    """Eigen/singular vectors are defined up to sign: make each column's first entry positive."""
    return v * v[..., :1, :].sign()


CASES = [
    ('inv', lambda L, a: L.linalg.inv(a), [well(3, 3)]),
    ('inv_batched', lambda L, a: L.linalg.inv(a), [well(2, 4, 4)]),
    ('inverse', lambda L, a: L.inverse(a), [well(3, 3)]),
    ('det', lambda L, a: L.linalg.det(a), [well(2, 3, 3)]),
    ('det_method', lambda L, a: a.det(), [well(4, 4)]),
    ('slogdet', lambda L, a: L.linalg.slogdet(a), [well(2, 3, 3)]),
    ('logdet', lambda L, a: L.logdet(a), [spd(3, 3)]),
    ('solve', lambda L, a, b: L.linalg.solve(a, b), [well(3, 3), rnd(3, 2)]),
    ('solve_vector', lambda L, a, b: L.linalg.solve(a, b), [well(3, 3), rnd(3)]),
    ('solve_batched_bcast', lambda L, a, b: L.linalg.solve(a, b), [well(2, 3, 3), rnd(3, 4)]),
    ('solve_right', lambda L, a, b: L.linalg.solve(a, b, left=False), [well(3, 3), rnd(2, 3)]),
    ('solve_triangular', lambda L, a, b: L.linalg.solve_triangular(a, b, upper=True), [well(3, 3), rnd(3, 2)]),
    ('solve_triangular_unit', lambda L, a, b: L.linalg.solve_triangular(a, b, upper=False, unitriangular=True),
     [well(3, 3), rnd(3, 2)]),
    # Cholesky reads one triangle: symmetrise so that gradcheck's one-sided perturbations are seen
    ('cholesky', lambda L, a: L.linalg.cholesky(a + a.mT), [spd(3, 3)]),
    ('cholesky_upper', lambda L, a: L.linalg.cholesky(a + a.mT, upper=True), [spd(2, 3, 3)]),
    ('cholesky_solve', lambda L, b, a: L.cholesky_solve(b, L.linalg.cholesky(a + a.mT)), [rnd(3, 2), spd(3, 3)]),
    ('cholesky_inverse', lambda L, a: L.cholesky_inverse(L.linalg.cholesky(a + a.mT)), [spd(3, 3)]),
    ('eigh', lambda L, a: (lambda r: (r[0], _fix_sign(r[1])))(L.linalg.eigh(a + a.mT)), [rnd(3, 3)]),
    ('eigvalsh', lambda L, a: L.linalg.eigvalsh(a + a.mT), [rnd(2, 4, 4)]),
    ('svd', lambda L, a: (lambda r: (_fix_sign(r[0]), r[1], _fix_sign(r[2].mT)))(L.linalg.svd(a, full_matrices=False)),
     [rnd(4, 3)]),
    ('svd_wide', lambda L, a: (lambda r: (_fix_sign(r[0]), r[1], _fix_sign(r[2].mT)))(
        L.linalg.svd(a, full_matrices=False)), [rnd(2, 3, 5)]),
    ('svdvals', lambda L, a: L.linalg.svdvals(a), [rnd(5, 3)]),
    ('qr', lambda L, a: L.linalg.qr(a), [rnd(4, 3)]),
    ('qr_wide', lambda L, a: L.linalg.qr(a), [rnd(3, 5)]),
    ('matrix_power', lambda L, a: L.linalg.matrix_power(a, 3), [well(3, 3)]),
    ('matrix_power_neg', lambda L, a: L.linalg.matrix_power(a, -2), [well(3, 3)]),
    ('matrix_exp', lambda L, a: L.matrix_exp(a), [rnd(3, 3)]),
    ('multi_dot', lambda L, a, b, c: L.linalg.multi_dot([a, b, c]), [rnd(3), rnd(3, 4), rnd(4, 2)]),
    ('vector_norm', lambda L, a: L.linalg.vector_norm(a, 3, dim=1), [rnd(3, 4)]),
    ('vector_norm_inf', lambda L, a: L.linalg.vector_norm(a, float('inf')), [rnd(3, 4)]),
    ('matrix_norm_fro', lambda L, a: L.linalg.matrix_norm(a), [rnd(2, 3, 4)]),
    ('matrix_norm_nuc', lambda L, a: L.linalg.matrix_norm(a, 'nuc'), [rnd(3, 4)]),
    ('matrix_norm_1', lambda L, a: L.linalg.matrix_norm(a, 1, keepdim=True), [rnd(3, 4)]),
    ('matrix_norm_2', lambda L, a: L.linalg.matrix_norm(a, 2), [rnd(3, 4)]),
    ('norm_default', lambda L, a: L.linalg.norm(a), [rnd(3, 4)]),
    ('cond', lambda L, a: L.linalg.cond(a), [well(3, 3)]),
    ('cross', lambda L, a, b: L.linalg.cross(a, b), [rnd(2, 3), rnd(1, 3)]),
    ('vecdot', lambda L, a, b: L.linalg.vecdot(a, b), [rnd(2, 3), rnd(2, 3)]),
    ('pinv', lambda L, a: L.linalg.pinv(a), [rnd(4, 3)]),
    # rank 2 under every perturbation of the factors: the pseudo-inverse is differentiable there
    ('pinv_rank_deficient', lambda L, b, c: L.linalg.pinv(b @ c), [rnd(4, 2), rnd(2, 3)]),
    ('pinv_hermitian', lambda L, a: L.linalg.pinv(a + a.mT, hermitian=True), [spd(3, 3)]),
    ('tensorinv', lambda L, a: L.linalg.tensorinv(a.reshape(2, 3, 6), ind=2), [well(6, 6)]),
    ('vander', lambda L, a: L.linalg.vander(a, N=4), [rnd(3)]),
    ('lu', lambda L, a: L.linalg.lu(a), [rnd(2, 4, 4)]),
    ('lu_tall', lambda L, a: L.linalg.lu(a), [rnd(5, 3)]),
    ('lu_wide', lambda L, a: L.linalg.lu(a), [rnd(3, 5)]),
    ('lu_factor', lambda L, a: L.linalg.lu_factor(a).LU, [rnd(4, 4)]),
    ('lu_solve', lambda L, a, b: L.linalg.lu_solve(*L.linalg.lu_factor(a), b), [well(3, 3), rnd(3, 2)]),
    ('lu_solve_adjoint_right', lambda L, a, b: L.linalg.lu_solve(*L.linalg.lu_factor(a), b, left=False, adjoint=True),
     [well(3, 3), rnd(2, 3)]),
    ('lu_unpack', lambda L, a: L.lu_unpack(*L.linalg.lu_factor(a))[1:], [rnd(4, 3)]),
    ('lu_legacy_solve', lambda L, a, b: L.lu_solve(b, *L.lu(a)), [well(3, 3), rnd(3, 1)]),
]


@pytest.mark.parametrize('name,fn,arrays', CASES, ids=[c[0] for c in CASES])
def test_gradcheck(name, fn, arrays):
    gradcheck_op(fn, *arrays)


@pytest.mark.parametrize('name,fn,arrays', CASES, ids=[c[0] for c in CASES])
def test_parity(name, fn, arrays):
    assert_parity(fn, *arrays, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize('fn', [lambda a: ember.linalg.inv(a), lambda a: ember.linalg.det(a)])
def test_float32_stays_float32(fn):
    a = ember.tensor(well(3, 3), dtype=ember.float32)
    assert fn(a).dtype == ember.float32


def test_empty_and_batched_empty():
    assert ember.linalg.det(ember.zeros(0, 0, dtype=ember.float64)).item() == 1.0
    assert ember.linalg.inv(ember.zeros(2, 0, 0)).shape == (2, 0, 0)
    assert ember.linalg.det(ember.zeros(0, 3, 3)).shape == (0,)
    u, s, vh = ember.linalg.svd(ember.zeros(0, 3))
    assert (u.shape, s.shape, vh.shape) == ((0, 0), (0,), (3, 3))


def test_singular_and_not_positive_definite_raise_linalg_error():
    with pytest.raises(ember.linalg.LinAlgError):
        ember.linalg.inv(ember.zeros(2, 2))
    with pytest.raises(RuntimeError, match='positive-definite'):
        ember.linalg.cholesky(-ember.eye(2))
    with pytest.raises(RuntimeError, match='square'):
        ember.linalg.det(ember.zeros(2, 3))


def test_det_gradient_of_a_singular_matrix_is_the_cofactor_matrix():
    # (PyTorch 2.13 returns zeros for this exactly singular matrix; the derivative is the cofactor matrix)
    a = ember.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=ember.float64, requires_grad=True)
    ember.linalg.det(a).backward()
    np.testing.assert_allclose(a.grad.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)


def test_matrix_rank():
    a = ember.tensor(np.array([[1.0, 2.0], [2.0, 4.0]]))
    assert ember.linalg.matrix_rank(a).item() == 1
    assert ember.linalg.matrix_rank(ember.eye(3)).dtype == ember.int64


def test_lstsq_solves_a_tall_system():
    a, b = rnd(5, 3), rnd(5, 2)
    sol = ember.linalg.lstsq(ember.tensor(a), ember.tensor(b)).solution
    np.testing.assert_allclose(sol.numpy(), np.linalg.lstsq(a, b, rcond=None)[0], atol=1e-10)


@pytest.mark.parametrize('ord', [0.5, 3, float('inf')])
def test_vector_norm_subgradient_at_zero_matches_pytorch(ord):
    assert_parity(lambda L, a: L.linalg.vector_norm(a, ord), np.zeros(4))
    assert_parity(lambda L, a: L.linalg.vector_norm(a, ord, dim=1), np.array([[0.0, 0.0], [1.0, -2.0]]))
