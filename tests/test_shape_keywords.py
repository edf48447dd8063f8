"""Shape methods and functions take PyTorch's keyword forms: permute(dims=), reshape(shape=), view(size=)."""
import pytest

import ember


@pytest.mark.parametrize('call, shape', [
    (lambda m, x: x.permute(dims=(1, 0)), (3, 2)),
    (lambda m, x: m.permute(x, dims=(1, 0)), (3, 2)),
    (lambda m, x: m.permute(input=x, dims=[1, 0]), (3, 2)),
    (lambda m, x: x.reshape(shape=(3, 2)), (3, 2)),
    (lambda m, x: x.reshape(shape=[-1]), (6,)),
    (lambda m, x: m.reshape(x, shape=(6,)), (6,)),
    (lambda m, x: m.reshape(input=x, shape=(1, 6)), (1, 6)),
    (lambda m, x: x.view(size=(3, 2)), (3, 2)),
    (lambda m, x: x.view(size=[-1, 2]), (3, 2)),
    (lambda m, x: x.permute(1, 0), (3, 2)),
    (lambda m, x: x.reshape((3, 2)), (3, 2)),
    (lambda m, x: x.view(6), (6,)),
])
def test_keyword_forms(call, shape):
    x = ember.arange(6.).reshape(2, 3)
    assert tuple(call(ember, x).shape) == shape
    torch = pytest.importorskip('torch')
    assert tuple(call(torch, torch.arange(6.).reshape(2, 3)).shape) == shape


@pytest.mark.parametrize('call', [
    lambda x: x.reshape(3, shape=(3, 2)),
    lambda x: x.permute(1, dims=(1, 0)),
    lambda x: x.view(6, size=(6,)),
])
def test_both_positional_and_keyword_raise_type_error(call):
    with pytest.raises(TypeError, match='multiple values'):
        call(ember.zeros(2, 3))


def test_gradient_through_keyword_forms():
    x = ember.arange(6., requires_grad=True)
    x.view(size=(2, 3)).permute(dims=(1, 0)).reshape(shape=(6,)).mul(ember.arange(6.)).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
