"""ember.nn layers: Conv1d/2d/3d and ConvTranspose1d/2d/3d, with PyTorch's defaults, reprs and init."""
import math

from ..._tensor import Tensor
from .. import init
from .._functional import conv as _F
from .linear import _weight_and_bias
from .module import Module

__all__ = ['Conv1d', 'Conv2d', 'Conv3d', 'ConvTranspose1d', 'ConvTranspose2d', 'ConvTranspose3d']

_PADDING_MODES = ('zeros', 'reflect', 'replicate', 'circular')
_LAYOUTS = {1: '(C, L)', 2: '(C, H, W)', 3: '(C, D, H, W)'}
_BATCHED = {1: '(N, C, L)', 2: '(N, C, H, W)', 3: '(N, C, D, H, W)'}


def _tup(v, n):
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return tuple(v) * n
        return tuple(v)
    return (v,) * n


class _ConvNd(Module):
    """Shared state of the convolution layers: channels, geometry, weight/bias and the input checks."""
    _nd = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode='zeros', output_padding=0, device=None, dtype=None):
        super().__init__()
        nd = self._nd
        if groups <= 0:
            raise ValueError('groups must be a positive integer')
        if in_channels % groups != 0:
            raise ValueError('in_channels must be divisible by groups')
        if out_channels % groups != 0:
            raise ValueError('out_channels must be divisible by groups')
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {list(_PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        kernel_size, stride, dilation = _tup(kernel_size, nd), _tup(stride, nd), _tup(dilation, nd)
        if isinstance(padding, str):
            if padding not in ('valid', 'same'):
                raise ValueError(f"Invalid padding string '{padding}', should be one of ['valid', 'same']")
            if padding == 'same' and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = _tup(padding, nd)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.transposed = self._transposed
        self.output_padding = _tup(output_padding, nd)
        self.groups, self.padding_mode = groups, padding_mode
        # F.pad amounts (last dim first) for the non-zero padding modes
        if isinstance(padding, str):
            if padding == 'same':
                tot = [d * (k - 1) for d, k in zip(dilation, kernel_size)]
                pairs = [(t // 2, t - t // 2) for t in tot]
            else:
                pairs = [(0, 0)] * nd
        else:
            pairs = [(p, p) for p in padding]
        self._reversed_padding_repeated_twice = [v for pr in reversed(pairs) for v in pr]
        if self.transposed:
            shape = (in_channels, out_channels // groups) + kernel_size
        else:
            shape = (out_channels, in_channels // groups) + kernel_size
        _weight_and_bias(self, shape, out_channels, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses the same bound
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        nd = self._nd
        s = f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}'
        if self.padding != (0,) * nd:
            s += f', padding={self.padding}'
        if self.dilation != (1,) * nd:
            s += f', dilation={self.dilation}'
        if self.output_padding != (0,) * nd:
            s += f', output_padding={self.output_padding}'
        if self.groups != 1:
            s += f', groups={self.groups}'
        if self.bias is None:
            s += ', bias=False'
        if self.padding_mode != 'zeros':
            s += f', padding_mode={self.padding_mode}'
        return s

    def _brief(self):
        return f'{type(self).__name__}({self.extra_repr()})'

    def _check_input(self, input):
        """Name the layer and what it expected when the input cannot fit (before the functional op runs)."""
        nd = self._nd
        if not isinstance(input, Tensor):
            raise TypeError(f'{self._brief()} expects a Tensor input, got {type(input).__name__}')
        shape = tuple(input.shape)
        if input.ndim not in (nd + 1, nd + 2):
            raise RuntimeError(f'{self._brief()} got input of shape {shape}: expected {nd + 1}-D {_LAYOUTS[nd]} or '
                               f'{nd + 2}-D {_BATCHED[nd]} input')
        C = shape[-nd - 1]
        if C != self.in_channels:
            raise RuntimeError(f'{self._brief()} got input of shape {shape}: expected {self.in_channels} input '
                               f'channels')
        if input.dtype != self.weight.dtype:
            raise RuntimeError(f'{self._brief()} got input of dtype {input.dtype.name} but its weight is '
                               f'{self.weight.dtype.name}: convert the input (x.to({self.weight.dtype})) or the '
                               f'layer ({type(self).__name__}.to({input.dtype}))')
        if input.device != self.weight.device:
            raise RuntimeError(f'{self._brief()} got input on {input.device} but its weight is on '
                               f'{self.weight.device}: move one of them (.to(device))')
        if not self.transposed:
            spatial = shape[-nd:]
            pairs = self._reversed_padding_repeated_twice
            padded = tuple(s + pairs[2 * (nd - 1 - i)] + pairs[2 * (nd - 1 - i) + 1] for i, s in enumerate(spatial))
            eff = tuple(d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel_size))
            if any(p < e for p, e in zip(padded, eff)):
                raise RuntimeError(f'{self._brief()} got input of shape {shape}: its spatial size {spatial} (padded: '
                                   f'{padded}) is smaller than the (dilated) kernel {eff}')


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode='zeros', device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, 0, device, dtype)

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != 'zeros':
            return _F._conv(_F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode), weight,
                            bias, self.stride, 0, self.dilation, self.groups, self._nd)
        return _F._conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups, self._nd)

    def forward(self, input):
        self._check_input(input)
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L): weight (C_out, C_in/groups, k)."""
    _nd = 1


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W): weight (C_out, C_in/groups, kh, kw)."""
    _nd = 2


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W): weight (C_out, C_in/groups, kd, kh, kw)."""
    _nd = 3


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode='zeros', device=None, dtype=None):
        if padding_mode != 'zeros':
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise TypeError(f"{type(self).__name__}: padding must be an int or a tuple of ints, not '{padding}'")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device, dtype)

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        nd = self._nd
        output_size = list(output_size)
        if len(output_size) == nd + 2 or (len(output_size) == nd + 1 and input.ndim == nd + 1):
            output_size = output_size[-nd:]
        if len(output_size) != nd:
            raise ValueError(f'ConvTranspose{nd}D: for {input.ndim}D input, output_size must have {nd} or {nd + 2} '
                             f'elements (got {len(output_size)})')
        spatial = input.shape[-nd:]
        result = []
        for d in range(nd):
            lo = ((spatial[d] - 1) * self.stride[d] - 2 * self.padding[d] +
                  self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            hi = lo + self.stride[d] - 1
            if not lo <= output_size[d] <= hi:
                mins = [((spatial[i] - 1) * self.stride[i] - 2 * self.padding[i] +
                         self.dilation[i] * (self.kernel_size[i] - 1) + 1) for i in range(nd)]
                maxs = [m + s - 1 for m, s in zip(mins, self.stride)]
                raise ValueError(f'requested an output size of {output_size}, but valid sizes range from {mins} to '
                                 f'{maxs} (for an input of {list(spatial)})')
            result.append(output_size[d] - lo)
        return tuple(result)

    def forward(self, input, output_size=None):
        self._check_input(input)
        op = self._output_padding(input, output_size)
        return _F._conv_transpose(input, self.weight, self.bias, self.stride, self.padding, op, self.groups,
                                  self.dilation, self._nd)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution (the gradient of Conv1d): weight (C_in, C_out/groups, k)."""
    _nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution (the gradient of Conv2d): weight (C_in, C_out/groups, kh, kw)."""
    _nd = 2


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution (the gradient of Conv3d): weight (C_in, C_out/groups, kd, kh, kw)."""
    _nd = 3
