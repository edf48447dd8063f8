"""ember.nn layers: max/average/adaptive/power-average pooling in 1, 2 and 3 dims."""
from ..._tensor import Tensor
from .._functional import fractional as _frac, pooling as _F, unpool as _U
from .module import Module

__all__ = ['MaxPool1d', 'MaxPool2d', 'MaxPool3d', 'AvgPool1d', 'AvgPool2d', 'AvgPool3d', 'AdaptiveAvgPool1d',
           'AdaptiveAvgPool2d', 'AdaptiveAvgPool3d', 'AdaptiveMaxPool1d', 'AdaptiveMaxPool2d', 'AdaptiveMaxPool3d',
           'LPPool1d', 'LPPool2d', 'MaxUnpool1d', 'MaxUnpool2d', 'MaxUnpool3d', 'FractionalMaxPool2d',
           'FractionalMaxPool3d']

_LAYOUTS = {1: '(C, L) or (N, C, L)', 2: '(C, H, W) or (N, C, H, W)', 3: '(C, D, H, W) or (N, C, D, H, W)'}


class _Pool(Module):
    _nd = 2

    def _brief(self):
        return f'{type(self).__name__}({self.extra_repr()})'

    def _check_input(self, input):
        nd = self._nd
        if not isinstance(input, Tensor):
            raise TypeError(f'{self._brief()} expects a Tensor input, got {type(input).__name__}')
        if input.ndim not in (nd + 1, nd + 2):
            raise RuntimeError(f'{self._brief()} got input of shape {tuple(input.shape)}: expected {nd + 1}-D or '
                               f'{nd + 2}-D input {_LAYOUTS[nd]}')

    def _run(self, fn, input, *args, **kwargs):
        self._check_input(input)
        try:
            return fn(input, *args, **kwargs)
        except RuntimeError as e:
            raise RuntimeError(f'{self._brief()} got input of shape {tuple(input.shape)}: {e}') from None


class _MaxPoolNd(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self):
        return (f'kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, '
                f'dilation={self.dilation}, ceil_mode={self.ceil_mode}')

    def forward(self, input):
        return self._run(_F._max_pool, input, self.kernel_size, self.stride, self.padding, self.dilation,
                         self.ceil_mode, self.return_indices, self._nd)


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows of (N, C, L)."""
    _nd = 1


class MaxPool2d(_MaxPoolNd):
    """Max over sliding windows of (N, C, H, W)."""
    _nd = 2


class MaxPool3d(_MaxPoolNd):
    """Max over sliding windows of (N, C, D, H, W)."""
    _nd = 3


def _single(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


class AvgPool1d(_Pool):
    """Mean over sliding windows of (N, C, L)."""
    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def extra_repr(self):
        return f'kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}'

    def forward(self, input):
        return self._run(_F.avg_pool1d, input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                         self.count_include_pad)


class _AvgPoolNd(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def extra_repr(self):
        return f'kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}'

    def forward(self, input):
        return self._run(_F._avg_pool, input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                         self.count_include_pad, self.divisor_override, self._nd)


class AvgPool2d(_AvgPoolNd):
    """Mean over sliding windows of (N, C, H, W)."""
    _nd = 2


class AvgPool3d(_AvgPoolNd):
    """Mean over sliding windows of (N, C, D, H, W)."""
    _nd = 3


class _AdaptivePool(_Pool):
    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def extra_repr(self):
        return f'output_size={self.output_size}'


class AdaptiveAvgPool1d(_AdaptivePool):
    """Average pooling of (N, C, L) to a fixed output length."""
    _nd = 1

    def __init__(self, output_size):
        super().__init__(output_size)

    def forward(self, input):
        return self._run(_F._adaptive_avg, input, self.output_size, 1)


class AdaptiveAvgPool2d(AdaptiveAvgPool1d):
    """Average pooling of (N, C, H, W) to a fixed output size (None keeps that input size)."""
    _nd = 2

    def forward(self, input):
        return self._run(_F._adaptive_avg, input, self.output_size, 2)


class AdaptiveAvgPool3d(AdaptiveAvgPool1d):
    """Average pooling of (N, C, D, H, W) to a fixed output size (None keeps that input size)."""
    _nd = 3

    def forward(self, input):
        return self._run(_F._adaptive_avg, input, self.output_size, 3)


class AdaptiveMaxPool1d(_AdaptivePool):
    """Max pooling of (N, C, L) to a fixed output length."""
    _nd = 1

    def forward(self, input):
        return self._run(_F._adaptive_max, input, self.output_size, self.return_indices, 1)


class AdaptiveMaxPool2d(_AdaptivePool):
    """Max pooling of (N, C, H, W) to a fixed output size (None keeps that input size)."""
    _nd = 2

    def forward(self, input):
        return self._run(_F._adaptive_max, input, self.output_size, self.return_indices, 2)


class AdaptiveMaxPool3d(_AdaptivePool):
    """Max pooling of (N, C, D, H, W) to a fixed output size (None keeps that input size)."""
    _nd = 3

    def forward(self, input):
        return self._run(_F.adaptive_max_pool3d, input, self.output_size, self.return_indices)


class _LPPool(_Pool):
    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def extra_repr(self):
        return (f'norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, '
                f'ceil_mode={self.ceil_mode}')


class LPPool1d(_LPPool):
    """Power-average pooling of (N, C, L): (sum x**p over the window) ** (1/p)."""
    _nd = 1

    def forward(self, input):
        return self._run(_F.lp_pool1d, input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(_LPPool):
    """Power-average pooling of (N, C, H, W): (sum x**p over the window) ** (1/p)."""
    _nd = 2

    def forward(self, input):
        return self._run(_F.lp_pool2d, input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class _MaxUnpoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = _U._geometry(kernel_size, stride, padding, self._nd)

    def forward(self, input, indices, output_size=None):
        return getattr(_U, f'max_unpool{self._nd}d')(input, indices, self.kernel_size, self.stride,
                                                         self.padding, output_size)

    def extra_repr(self):
        return f'kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}'


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of MaxPool1d: values put back at their indices, zeros elsewhere."""
    _nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of MaxPool2d: values put back at their indices, zeros elsewhere."""
    _nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of MaxPool3d: values put back at their indices, zeros elsewhere."""
    _nd = 3


class _FractionalMaxPoolNd(Module):
    """Fractional max pooling (Graham 2014): windows at pseudo-random fractional strides, drawn as PyTorch draws."""
    _nd = 2

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False, _random_samples=None):
        super().__init__()
        nd, name = self._nd, type(self).__name__
        self.kernel_size = kernel_size if isinstance(kernel_size, tuple) else (kernel_size,) * nd
        self.return_indices = return_indices
        self.register_buffer('_random_samples', _random_samples)
        self.output_size = (output_size if isinstance(output_size, tuple) else (output_size,) * nd) \
            if output_size is not None else None
        self.output_ratio = (output_ratio if isinstance(output_ratio, tuple) else (output_ratio,) * nd) \
            if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(f'{name} requires specifying either an output size, or a pooling ratio')
        if output_size is not None and output_ratio is not None:
            raise ValueError('only one of output_size and output_ratio may be specified')
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f'output_ratio must be between 0 and 1 (got {output_ratio})')

    def forward(self, input):
        fn = _frac.fractional_max_pool2d if self._nd == 2 else _frac.fractional_max_pool3d
        return fn(input, self.kernel_size, self.output_size, self.output_ratio, self.return_indices,
                  _random_samples=self._random_samples)


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Fractional max pooling over (N, C, H, W)."""
    _nd = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Fractional max pooling over (N, C, T, H, W)."""
    _nd = 3
