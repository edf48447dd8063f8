"""ember.nn layers: Identity, Linear, Bilinear."""
import math

from ..._creation import empty
from ..._tensor import Tensor
from ..parameter import Parameter
from .. import init
from .._functional.linear import bilinear
from ...ops import nn_ops as _nn
from .module import Module

__all__ = ['Identity', 'Linear', 'Bilinear', 'LazyLinear']  # NonDynamicallyQuantizableLinear: import by path


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are accepted and ignored)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


def _weight_and_bias(module, weight_shape, out_features, bias, device, dtype):
    """Register an uninitialised ``weight`` and ``bias`` (out_features,), or a None bias when ``bias`` is off."""
    module.weight = Parameter(empty(weight_shape, device=device, dtype=dtype))
    if bias:
        module.bias = Parameter(empty(out_features, device=device, dtype=dtype))
    else:
        module.register_parameter('bias', None)


def _shape(t):
    return tuple(t.shape)


class Linear(Module):
    """y = x @ weight.T + bias, weight of shape (out_features, in_features), over the input's last dimension."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        _weight_and_bias(self, (out_features, in_features), out_features, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses the same bound
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        try:
            return _nn.linear(input, self.weight, self.bias)
        except RuntimeError as e:
            if isinstance(input, Tensor) and (input.ndim == 0 or input.shape[-1] != self.in_features):
                raise RuntimeError(f'{self._brief()} got input of shape {_shape(input)}: last dimension must be '
                                   f'{self.in_features}') from None
            if isinstance(input, Tensor) and input.dtype != self.weight.dtype:
                raise RuntimeError(f'{self._brief()} got input of dtype {input.dtype.name} but its weight is '
                                   f'{self.weight.dtype.name}: convert the input (x.to({self.weight.dtype})) or '
                                   f'the layer ({self.__class__.__name__}.to({input.dtype}))') from e
            raise

    def _brief(self):
        return f'{type(self).__name__}(in_features={self.in_features}, out_features={self.out_features})'

    def extra_repr(self):
        return f'in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}'


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear that PyTorch's quantization leaves alone (used inside MultiheadAttention); here just a Linear."""


class LazyLinear(Linear):
    """A Linear whose in_features is taken from the first input it sees."""

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = out_features
        self._lazy_args = (bias, device, dtype)
        _weight_and_bias(self, (out_features, 0), out_features, bias, device, dtype)

    def reset_parameters(self):
        if self.in_features:
            Linear.reset_parameters(self)

    def forward(self, input):
        if self.in_features == 0:
            bias, device, dtype = self._lazy_args
            self.in_features = input.shape[-1]
            self.weight.data = empty((self.out_features, self.in_features), device=self.weight.device,
                                     dtype=self.weight.dtype)
            self.reset_parameters()
            self.__class__ = Linear
        return Linear.forward(self, input)


class Bilinear(Module):
    """y = x1 @ weight[o] @ x2 + bias[o] for each output feature o; weight (out, in1, in2)."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        _weight_and_bias(self, (out_features, in1_features, in2_features), out_features, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        if input1.ndim == 0 or input1.shape[-1] != self.in1_features:
            raise RuntimeError(f'{self._brief()} got input1 of shape {_shape(input1)}: last dimension must be '
                               f'{self.in1_features}')
        if input2.ndim == 0 or input2.shape[-1] != self.in2_features:
            raise RuntimeError(f'{self._brief()} got input2 of shape {_shape(input2)}: last dimension must be '
                               f'{self.in2_features}')
        return bilinear(input1, input2, self.weight, self.bias)

    def _brief(self):
        return (f'{type(self).__name__}(in1_features={self.in1_features}, in2_features={self.in2_features}, '
                f'out_features={self.out_features})')

    def extra_repr(self):
        return (f'in1_features={self.in1_features}, in2_features={self.in2_features}, '
                f'out_features={self.out_features}, bias={self.bias is not None}')
