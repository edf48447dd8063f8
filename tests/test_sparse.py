"""Sparse COO tensors: construction, coalesce, products with autograd (gradcheck and PyTorch parity), a 2-layer GCN."""
import numpy as np
import pytest

import ember
from conftest import torch, needs_torch

gradcheck = ember.autograd.gradcheck


@pytest.fixture(params=['scipy', 'numpy'])
def engine(request, monkeypatch):
    """Products run on scipy.sparse when it is installed and on NumPy segment sums without it: test both."""
    if request.param == 'scipy':
        pytest.importorskip('scipy')
    else:
        monkeypatch.setattr(ember.sparse, '_engine', lambda device: None)
    return request.param


def _coo(n=5, m=4, nnz=9, seed=0, dup=True):
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.integers(0, n, nnz), rng.integers(0, m, nnz)])
    if dup:
        idx[:, -1] = idx[:, 0]  # one duplicate entry
    return idx, rng.standard_normal(nnz)


def test_construction_and_metadata():
    s = ember.sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [3., 4., 5.], (2, 3))
    assert s.is_sparse and s.layout == ember.sparse_coo and s.layout != ember.strided
    assert s.shape == (2, 3) and s.dtype == ember.float32 and s._nnz() == 3
    assert s.sparse_dim() == 2 and s.dense_dim() == 0 and s.ndim == 2
    assert isinstance(s, ember.Tensor) and not s.requires_grad
    np.testing.assert_array_equal(s.to_dense().numpy(), [[0, 0, 3], [4, 0, 5]])
    inferred = ember.sparse_coo_tensor(ember.tensor([[0, 2]]), ember.tensor([1., 2.]))
    assert inferred.shape == (3,)
    assert 'layout=torch.sparse_coo' in repr(s) and 'nnz=3' in repr(s)
    assert not ember.tensor([1.]).is_sparse
    x = ember.randn(2, 2)
    assert x.to_dense() is x


def test_construction_errors():
    with pytest.raises(RuntimeError, match='same nnz'):
        ember.sparse_coo_tensor([[0, 1]], [1., 2., 3.], (2,))
    with pytest.raises(RuntimeError, match='size is inconsistent with indices'):
        ember.sparse_coo_tensor([[0, 2]], [1., 2.], (2,))
    with pytest.raises(RuntimeError, match='sparse_dim'):
        ember.sparse_coo_tensor([[0, 1]], [1., 2.], (2, 2))
    with pytest.raises(RuntimeError, match='int64'):
        ember.sparse_coo_tensor(ember.tensor([[0., 1.]]), [1., 2.], (2,))


def test_coalesce_and_accessors():
    s = ember.sparse_coo_tensor([[1, 0, 1], [2, 1, 2]], [1., 2., 3.], (2, 3))
    assert not s.is_coalesced()
    with pytest.raises(RuntimeError, match='uncoalesced'):
        s.values()
    c = s.coalesce()
    assert c.is_coalesced() and c._nnz() == 2
    np.testing.assert_array_equal(c.indices().numpy(), [[0, 1], [1, 2]])
    np.testing.assert_array_equal(c.values().numpy(), [2., 4.])
    assert c.coalesce() is c
    np.testing.assert_array_equal(s.to_dense().numpy(), c.to_dense().numpy())


def test_to_sparse_roundtrip_and_hybrid():
    x = ember.tensor([[0., 1., 0.], [2., 0., 3.]])
    s = x.to_sparse()
    assert s.is_coalesced() and s._nnz() == 3
    np.testing.assert_array_equal(s.to_dense().numpy(), x.numpy())
    h = ember.tensor([[[0., 0.], [1., 2.]], [[0., 0.], [0., 0.]]]).to_sparse(2)  # values of shape (nnz, 2)
    assert h.sparse_dim() == 2 and h.dense_dim() == 1 and h._nnz() == 1
    np.testing.assert_array_equal(h.to_dense().numpy()[0, 1], [1., 2.])


def test_spmm_forward_all_spellings(engine):
    idx, vals = _coo()
    s = ember.sparse_coo_tensor(idx, vals, (5, 4))
    d = ember.tensor(np.random.default_rng(1).standard_normal((4, 3)))
    want = s.to_dense().numpy() @ d.numpy()
    for out in (ember.sparse.mm(s, d), ember.mm(s, d), ember.spmm(s, d), s @ d, ember.matmul(s, d), s.mm(d)):
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-12)
    v = ember.tensor(np.arange(4.))
    np.testing.assert_allclose((s @ v).numpy(), s.to_dense().numpy() @ v.numpy())
    np.testing.assert_allclose((d.t() @ s.t()).numpy(), want.T, rtol=1e-12)  # dense @ sparse
    np.testing.assert_allclose(ember.sparse.addmm(ember.ones(5, 3, dtype=ember.float64), s, d, beta=2.,
                                                  alpha=0.5).numpy(), 2 + 0.5 * want, rtol=1e-12)
    ss = s @ s.t()
    assert ss.is_sparse
    np.testing.assert_allclose(ss.to_dense().numpy(), s.to_dense().numpy() @ s.to_dense().numpy().T, rtol=1e-12)


def test_spmm_errors():
    s = ember.sparse_coo_tensor([[0, 1], [1, 0]], [1., 2.], (2, 2))
    with pytest.raises(RuntimeError, match='cannot be multiplied'):
        s @ ember.ones(3, 2)
    with pytest.raises(RuntimeError, match='same dtype'):
        s @ ember.ones(2, 2, dtype=ember.float64)


@pytest.mark.parametrize('k', [1, 3])
def test_gradcheck_spmm_dense_and_values(k, engine):
    idx, vals = _coo()
    values = ember.tensor(vals, requires_grad=True)
    dense = ember.tensor(np.random.default_rng(2).standard_normal((4, k)), requires_grad=True)

    def f(v, d):
        return ember.sparse.mm(ember.sparse_coo_tensor(idx, v, (5, 4)), d)
    assert gradcheck(f, (values, dense))
    assert ember.autograd.gradgradcheck(f, (values, dense))


def test_gradcheck_transposed_vector_and_dense_left(engine):
    idx, vals = _coo()
    values = ember.tensor(vals, requires_grad=True)
    vec = ember.tensor(np.random.default_rng(3).standard_normal(5), requires_grad=True)
    left = ember.tensor(np.random.default_rng(4).standard_normal((2, 5)), requires_grad=True)
    assert gradcheck(lambda v, x: ember.sparse_coo_tensor(idx, v, (5, 4)).t() @ x, (values, vec))
    assert gradcheck(lambda v, x: x @ ember.sparse_coo_tensor(idx, v, (5, 4)), (values, left))


def test_gradcheck_coalesce_to_dense_sum_softmax():
    idx, vals = _coo()
    values = ember.tensor(vals, requires_grad=True)

    def mk(v):
        return ember.sparse_coo_tensor(idx, v, (5, 4))
    assert gradcheck(lambda v: mk(v).coalesce().values(), (values,))
    assert gradcheck(lambda v: mk(v).to_dense(), (values,))
    assert gradcheck(lambda v: ember.sparse.sum(mk(v)), (values,))
    assert gradcheck(lambda v: ember.sparse.sum(mk(v), 1).to_dense(), (values,))
    assert gradcheck(lambda v: ember.sparse.softmax(mk(v), 1).values(), (values,))
    assert gradcheck(lambda v: ember.sparse.log_softmax(mk(v), 0).values(), (values,))
    assert gradcheck(lambda v: (mk(v) * 3 + mk(v)).to_dense(), (values,))
    dense = ember.tensor(np.random.default_rng(5).standard_normal((5, 4)), requires_grad=True)
    assert gradcheck(lambda v, d: (mk(v) * d).to_dense(), (values, dense))
    assert gradcheck(lambda d: d.to_sparse().to_dense() * 2, (dense,))


def test_sparse_leaf_grad():
    s = ember.sparse_coo_tensor([[0, 1], [1, 0]], [1., 2.], (2, 2), requires_grad=True)
    assert s.requires_grad and s.is_leaf
    d = ember.tensor([[1., 2.], [3., 4.]])
    (s @ d).sum().backward()
    g = s.grad
    assert g.is_sparse
    np.testing.assert_allclose(g._values().numpy(), [7., 3.])  # row sums of d at the pattern's columns


def test_sparse_plus_dense_and_arith():
    s = ember.sparse_coo_tensor([[0, 1], [1, 0]], [1., 2.], (2, 2))
    d = ember.ones(2, 2)
    np.testing.assert_array_equal((s + d).numpy(), [[1, 2], [3, 1]])
    np.testing.assert_array_equal((d + s).numpy(), [[1, 2], [3, 1]])
    np.testing.assert_array_equal((d - s).numpy(), [[1, 0], [-1, 1]])
    assert (s + s).is_sparse
    np.testing.assert_array_equal((s + s).to_dense().numpy(), [[0, 2], [4, 0]])
    np.testing.assert_array_equal((s / 2).to_dense().numpy(), [[0, .5], [1, 0]])
    np.testing.assert_array_equal((-s).to_dense().numpy(), [[0, -1], [-2, 0]])
    with pytest.raises(RuntimeError, match='not supported for sparse'):
        ember.exp(s)


def test_pickle_and_device_dtype_moves():
    import pickle
    s = ember.sparse_coo_tensor([[0, 1], [1, 0]], [1., 2.], (2, 2))
    r = pickle.loads(pickle.dumps(s))
    assert r.is_sparse and r.shape == (2, 2)
    np.testing.assert_array_equal(r.to_dense().numpy(), s.to_dense().numpy())
    assert s.double().dtype == ember.float64 and s.to(ember.float64).is_sparse
    assert s.cpu() is s


def test_legacy_constructor():
    s = ember.sparse.FloatTensor(ember.tensor([[0, 1], [1, 0]]), ember.tensor([1., 2.]), ember.Size([2, 2]))
    assert s.dtype == ember.float32 and s.is_sparse
    e = ember.sparse.FloatTensor(3, 4)
    assert e.shape == (3, 4) and e._nnz() == 0
    np.testing.assert_array_equal(e.to_dense().numpy(), np.zeros((3, 4)))


def _normalized_adjacency(n, seed=0):
    rng = np.random.default_rng(seed)
    a = (rng.random((n, n)) < 0.2).astype(np.float64)
    a = np.maximum(a, a.T) + np.eye(n)
    d = 1 / np.sqrt(a.sum(1))
    a = a * d[:, None] * d[None, :]
    idx = np.stack(np.nonzero(a))
    return idx, a[tuple(idx)]


@needs_torch
def test_gcn_two_layers_matches_pytorch(engine):
    n, f, h, c = 30, 8, 16, 4
    idx, vals = _normalized_adjacency(n)
    rng = np.random.default_rng(1)
    x, w1, w2 = rng.standard_normal((n, f)), rng.standard_normal((f, h)) * 0.3, rng.standard_normal((h, c)) * 0.3
    labels = rng.integers(0, c, n)

    def run(lib):
        v = lib.tensor(vals.copy(), requires_grad=True)
        adj = lib.sparse_coo_tensor(lib.tensor(idx), v, (n, n))
        W1, W2 = lib.tensor(w1.copy(), requires_grad=True), lib.tensor(w2.copy(), requires_grad=True)
        X = lib.tensor(x.copy())
        hid = lib.relu(lib.sparse.mm(adj, X @ W1))
        out = adj @ (hid @ W2)
        loss = lib.nn.functional.cross_entropy(out, lib.tensor(labels))
        loss.backward()
        return [out.detach().numpy(), loss.item(), W1.grad.numpy(), W2.grad.numpy(), v.grad.numpy()]
    for e, t in zip(run(ember), run(torch)):
        np.testing.assert_allclose(e, t, rtol=1e-10, atol=1e-12)


@needs_torch
def test_softmax_and_sum_match_pytorch():
    idx, vals = _coo(dup=False, seed=3)
    es = ember.sparse_coo_tensor(idx, vals, (5, 4)).coalesce()
    ts = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(vals), (5, 4)).coalesce()
    for dim in (0, 1):
        np.testing.assert_allclose(ember.sparse.softmax(es, dim).to_dense().numpy(),
                                   torch.sparse.softmax(ts, dim).to_dense().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ember.sparse.sum(es, 0).to_dense().numpy(),
                               torch.sparse.sum(ts, 0).to_dense().numpy(), rtol=1e-12)
    assert abs(ember.sparse.sum(es).item() - torch.sparse.sum(ts).item()) < 1e-12
    np.testing.assert_array_equal(es.indices().numpy(), ts.indices().numpy())
