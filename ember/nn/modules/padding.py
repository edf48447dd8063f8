"""ember.nn layers: constant, zero, reflection, replication and circular padding in 1, 2 and 3 dims."""
from .._functional import conv as _F
from .module import Module

__all__ = ['ConstantPad1d', 'ConstantPad2d', 'ConstantPad3d', 'ZeroPad1d', 'ZeroPad2d', 'ZeroPad3d',
           'ReflectionPad1d', 'ReflectionPad2d', 'ReflectionPad3d', 'ReplicationPad1d', 'ReplicationPad2d',
           'ReplicationPad3d', 'CircularPad1d', 'CircularPad2d', 'CircularPad3d']


def _amounts(padding, nd):
    if isinstance(padding, int):
        return (padding,) * (2 * nd)
    padding = tuple(padding)
    if len(padding) != 2 * nd:
        raise ValueError(f'expected padding to be an int or a tuple of {2 * nd} ints, got {padding}')
    return padding


class _PadNd(Module):
    _nd = 2
    _mode = 'constant'

    def __init__(self, padding):
        super().__init__()
        self.padding = _amounts(padding, self._nd)

    def forward(self, input):
        return _F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f'{self.padding}'


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return _F.pad(input, self.padding, 'constant', self.value)

    def extra_repr(self):
        return f'padding={self.padding}, value={self.value}'


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with a constant: padding = int or (left, right)."""
    _nd = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with a constant: padding = int or (left, right, top, bottom)."""
    _nd = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with a constant: padding = int or (left, right, top, bottom, front, back)."""
    _nd = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f'{self.padding}'


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros."""
    _nd = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dims with zeros."""
    _nd = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dims with zeros."""
    _nd = 3


class ReflectionPad1d(_PadNd):
    """Mirror-pad the last dim (the edge value is not repeated)."""
    _nd, _mode = 1, 'reflect'


class ReflectionPad2d(_PadNd):
    """Mirror-pad the last two dims (the edge value is not repeated)."""
    _nd, _mode = 2, 'reflect'


class ReflectionPad3d(_PadNd):
    """Mirror-pad the last three dims (the edge value is not repeated)."""
    _nd, _mode = 3, 'reflect'


class ReplicationPad1d(_PadNd):
    """Pad the last dim by repeating the edge value."""
    _nd, _mode = 1, 'replicate'


class ReplicationPad2d(_PadNd):
    """Pad the last two dims by repeating the edge values."""
    _nd, _mode = 2, 'replicate'


class ReplicationPad3d(_PadNd):
    """Pad the last three dims by repeating the edge values."""
    _nd, _mode = 3, 'replicate'


class CircularPad1d(_PadNd):
    """Pad the last dim by wrapping around."""
    _nd, _mode = 1, 'circular'


class CircularPad2d(_PadNd):
    """Pad the last two dims by wrapping around."""
    _nd, _mode = 2, 'circular'


class CircularPad3d(_PadNd):
    """Pad the last three dims by wrapping around."""
    _nd, _mode = 3, 'circular'
