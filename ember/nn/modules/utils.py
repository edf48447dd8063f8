"""torch.nn.modules.utils' helpers that custom layers import: _single, _pair, _triple, _quadruple, _ntuple."""
from collections.abc import Iterable
from itertools import repeat


def _ntuple(n, name='parse'):
    def parse(x):
        if isinstance(x, Iterable):
            return tuple(x)
        return tuple(repeat(x, n))
    parse.__name__ = name
    return parse


_single = _ntuple(1, '_single')
_pair = _ntuple(2, '_pair')
_triple = _ntuple(3, '_triple')
_quadruple = _ntuple(4, '_quadruple')


def _reverse_repeat_tuple(t, n):
    """(a, b) with n=2 -> (b, b, a, a): the padding order F.pad takes, from a per-dim tuple."""
    return tuple(x for x in reversed(t) for _ in range(n))
