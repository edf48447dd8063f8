"""The in-place machinery's home (ember/ops/inplace.py) and its refusals of writes into overlapping memory."""
import pytest

import ember
from ember.ops import convert, inplace

# PyTorch's message for a write into a tensor whose elements share memory (an expanded tensor)
OVERLAP = ('unsupported operation: more than one element of the written-to tensor refers to a single memory '
           'location. Please clone() the tensor before performing the operation.')


def test_in_place_methods_come_from_ops_inplace():
    for name in ('zero_', 'fill_', 'copy_'):
        assert getattr(ember.Tensor, name) is getattr(inplace, name)
    for name in ('check_inplace_leaf', 'rebind_inplace', 'inplace_binary', 'inplace_unary', 'assign_result',
                 'copy_result', 'replay_view', 'outside_view', 'fill_', 'copy_', 'zero_'):
        assert hasattr(inplace, name) and not hasattr(convert, name), name
    for name in ('to_dtype_op', 'to_device', 'tensor_to', 'clone'):
        assert hasattr(convert, name), name


WRITES = {
    'add_': lambda t: t.add_(1),
    'mul_': lambda t: t.mul_(ember.ones(4, 3)),
    'copy_': lambda t: t.copy_(ember.ones(4, 3)),
    'setitem': lambda t: t.__setitem__(slice(None), ember.ones(4, 3)),
}


@pytest.mark.parametrize('grad', [False, True])
@pytest.mark.parametrize('op', sorted(WRITES))
def test_write_into_overlapping_memory_is_refused_as_pytorch_does(op, grad):
    # grad off: the write itself fails and is reported as the overlap (the NumPy error is not chained in);
    # grad on: check_inplace_leaf refuses it before any write
    with ember.set_grad_enabled(grad):
        t = ember.zeros(1, 3).expand(4, 3)
        with pytest.raises(RuntimeError) as info:
            WRITES[op](t)
    assert str(info.value) == OVERLAP
    assert info.value.__context__ is None or info.value.__suppress_context__
    assert t.tolist() == [[0.0] * 3] * 4


def test_exp_on_overlapping_view_under_grad():
    t = ember.zeros(1, 3).expand(4, 3)
    with pytest.raises(RuntimeError, match='more than one element of the written-to tensor'):
        t.exp_()


@pytest.mark.parametrize('requires_grad', [False, True])
def test_copy_source_that_does_not_broadcast(requires_grad):
    # with and without a graph (copy_result, or the direct write) PyTorch's error naming the clashing dim
    src = ember.ones(4, 3, requires_grad=requires_grad)
    with pytest.raises(RuntimeError, match=r'^The size of tensor a \(2\) must match the size of tensor b \(4\) at '
                                           r'non-singleton dimension 0$') as info:
        ember.zeros(2, 3).copy_(src)
    assert info.value.__suppress_context__


def test_copy_into_view_under_grad_rebinds_base_through_copyslices():
    w = ember.randn(3, 4, requires_grad=True)
    v = ember.randn(4, requires_grad=True)
    base = w * 1
    base[1].copy_(v)
    assert base.grad_fn.name().endswith('CopySlices')  # (PyTorch: torch::autograd::CopySlices)
    base.sum().backward()
    assert w.grad.tolist() == [[1.0] * 4, [0.0] * 4, [1.0] * 4]
    assert v.grad.tolist() == [1.0] * 4
