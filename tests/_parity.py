"""Module-parity helpers shared by the layer tests: float64 leaves in both libraries, closeness, state copying."""
import numpy as np

import ember
from conftest import torch


def e64(a, rg=True):
    """An ember float64 tensor from a NumPy array."""
    return ember.tensor(a, dtype=ember.float64, requires_grad=rg)


def torch64(a, rg=True):
    """A PyTorch float64 tensor from a NumPy array."""
    return torch.tensor(a, dtype=torch.float64, requires_grad=rg)


def close(a, b, atol=1e-6, equal_nan=False):
    """Same shape and values (tensors of either library, or arrays)."""
    a = a.detach().numpy() if hasattr(a, 'detach') else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, 'detach') else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5, equal_nan=equal_nan)


def copy_from_torch(em, tm):
    """state_dict-compatible: load PyTorch's values into ember's module by name."""
    sd = tm.state_dict()
    assert list(em.state_dict().keys()) == list(sd.keys())
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in sd.items()})


def check_param_grads(em, tm, atol=1e-6, equal_nan=False):
    """The two modules' parameters have the same names, in order, and matching gradients."""
    for (n, p), (n2, q) in zip(em.named_parameters(), tm.named_parameters()):
        assert n == n2
        close(p.grad, q.grad, atol, equal_nan)
