"""One hook-handle type for tensors, modules and optimizers (ember.utils.hooks.RemovableHandle)."""
import ember
from ember.utils.hooks import RemovableHandle


def test_tensor_module_and_post_accumulate_handles_are_one_type_and_remove():
    x = ember.ones(3, requires_grad=True)
    seen = []
    h1 = x.register_hook(lambda g: seen.append('leaf') or g * 2)
    y = x * 1
    h2 = y.register_hook(lambda g: seen.append('node'))
    h3 = x.register_post_accumulate_grad_hook(lambda t: seen.append('acc'))
    m = ember.nn.Linear(3, 1)
    h4 = m.register_forward_hook(lambda mod, i, o: seen.append('fwd'))
    assert all(isinstance(h, RemovableHandle) for h in (h1, h2, h3, h4))
    m(x.detach())
    y.sum().backward()
    assert seen == ['fwd', 'node', 'leaf', 'acc'] and x.grad.tolist() == [2.0, 2.0, 2.0]
    for h in (h1, h2, h3, h4):
        h.remove()
        h.remove()  # removing twice is harmless, as in PyTorch
    seen.clear()
    x.grad = None
    m(x.detach())
    (x * 1).sum().backward()
    assert seen == [] and x.grad.tolist() == [1.0, 1.0, 1.0]


def test_handle_is_a_context_manager():
    x = ember.ones(2, requires_grad=True)
    with x.register_hook(lambda g: g * 0):
        x.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    x.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
