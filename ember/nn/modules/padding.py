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


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f'{self.padding}'


# Each family differs only in the number of padded dims (and its docstring), so the 1/2/3-dim classes are
# made from one template; type() gives them the module and name they would have as class statements (pickle).
_LAST = {1: 'the last dim', 2: 'the last two dims', 3: 'the last three dims'}
_SIDES = ('left', 'right', 'top', 'bottom', 'front', 'back')


def _pad_classes(family, base, mode, doc):
    return tuple(type(f'{family}{nd}d', (base,), {'__module__': __name__, '__doc__': doc(nd), '_nd': nd, '_mode': mode})
                 for nd in (1, 2, 3))


ConstantPad1d, ConstantPad2d, ConstantPad3d = _pad_classes(
    'ConstantPad', _ConstantPadNd, 'constant',
    lambda nd: f'Pad {_LAST[nd]} with a constant: padding = int or ({", ".join(_SIDES[:2 * nd])}).')
ZeroPad1d, ZeroPad2d, ZeroPad3d = _pad_classes(
    'ZeroPad', _ZeroPadNd, 'constant', lambda nd: f'Pad {_LAST[nd]} with zeros.')
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = _pad_classes(
    'ReflectionPad', _PadNd, 'reflect', lambda nd: f'Mirror-pad {_LAST[nd]} (the edge value is not repeated).')
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = _pad_classes(
    'ReplicationPad', _PadNd, 'replicate',
    lambda nd: f'Pad {_LAST[nd]} by repeating the edge value{"s" if nd > 1 else ""}.')
CircularPad1d, CircularPad2d, CircularPad3d = _pad_classes(
    'CircularPad', _PadNd, 'circular', lambda nd: f'Pad {_LAST[nd]} by wrapping around.')
