"""DLPack: zero-copy exchange with NumPy, PyTorch, CuPy and JAX (each skipped when not installed)."""
import numpy as np
import pytest

import ember
from conftest import torch, needs_torch


def test_numpy_reads_and_writes_ember_memory():
    t = ember.arange(6.).reshape(2, 3)
    a = np.from_dlpack(t)
    assert a.shape == (2, 3) and a.dtype == np.float32
    a[0, 0] = 100
    assert t[0, 0].item() == 100
    assert t.__dlpack_device__() == (1, 0)


def test_ember_from_numpy_shares_memory():
    a = np.arange(4, dtype=np.int64)
    t = ember.from_dlpack(a)
    assert t.dtype == ember.int64
    t.add_(1)
    np.testing.assert_array_equal(a, [1, 2, 3, 4])
    assert ember.utils.dlpack.from_dlpack(a).dtype == ember.int64


def test_strided_bool_half_and_capsule():
    a = np.arange(8.)[::2]
    t = ember.from_dlpack(a)
    np.testing.assert_array_equal(t.numpy(), [0, 2, 4, 6])
    assert ember.from_dlpack(np.array([True, False])).dtype == ember.bool
    assert ember.from_dlpack(np.ones(2, np.float16)).dtype == ember.float16
    cap = ember.utils.dlpack.to_dlpack(ember.tensor([1., 2.]))
    back = ember.from_dlpack(cap)
    np.testing.assert_array_equal(back.numpy(), [1, 2])


def test_export_refuses_requires_grad_and_sparse():
    with pytest.raises(RuntimeError, match='require gradient'):
        np.from_dlpack(ember.ones(2, requires_grad=True))
    assert np.from_dlpack(ember.ones(2, requires_grad=True).detach()).shape == (2,)
    s = ember.sparse_coo_tensor([[0]], [1.], (2,))
    with pytest.raises(RuntimeError, match='sparse'):
        s.__dlpack__()
    x = ember.tensor([1.])
    assert ember.from_dlpack(x) is x
    with pytest.raises(TypeError, match='__dlpack__'):
        ember.from_dlpack([1, 2])


@needs_torch
def test_pytorch_both_directions_share_memory():
    e = ember.zeros(2, 3)
    t = torch.from_dlpack(e)
    t[1, 2] = 7.
    assert e[1, 2].item() == 7.
    e[0, 0] = 3.
    assert t[0, 0].item() == 3.

    src = torch.arange(4.)
    e2 = ember.from_dlpack(src)
    e2.mul_(2)
    assert src.tolist() == [0., 2., 4., 6.]
    src[0] = -1.
    assert e2[0].item() == -1.
    assert ember.from_dlpack(torch.tensor([1, 2], dtype=torch.int32)).dtype == ember.int32
    e3 = ember.from_dlpack(torch.utils.dlpack.to_dlpack(torch.ones(3)))  # a legacy capsule
    np.testing.assert_array_equal(e3.numpy(), [1, 1, 1])
    assert torch.utils.dlpack.from_dlpack(ember.utils.dlpack.to_dlpack(ember.ones(2))).tolist() == [1., 1.]


@needs_torch
def test_pytorch_bfloat16_is_refused_clearly():
    with pytest.raises((RuntimeError, BufferError, TypeError), match='bfloat16|dtype'):
        ember.from_dlpack(torch.ones(2, dtype=torch.bfloat16))


def test_cupy_roundtrip():
    cupy = pytest.importorskip('cupy')
    if not ember.cuda.is_available():
        pytest.skip('no CUDA device')
    c = cupy.arange(4, dtype=cupy.float32)
    e = ember.from_dlpack(c)
    assert e.device.type == 'cuda'
    e.add_(1)
    assert c.get().tolist() == [1., 2., 3., 4.]
    c2 = cupy.from_dlpack(e)
    c2[0] = 9
    assert e[0].item() == 9.


def test_jax_roundtrip():
    jax = pytest.importorskip('jax')
    import jax.numpy as jnp
    x = jnp.arange(4.0, dtype=jnp.float32)
    e = ember.from_dlpack(x)
    np.testing.assert_array_equal(e.cpu().numpy(), [0, 1, 2, 3])
    back = jax.dlpack.from_dlpack(ember.arange(3.))
    np.testing.assert_array_equal(np.asarray(back), [0, 1, 2])
