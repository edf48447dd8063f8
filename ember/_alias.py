"""The `torch` module of ember's alias: ember's namespace, with the PyTorch version whose API ember implements."""
import re
import sys
import types

# the PyTorch release whose API (names, signatures, printed text) ember follows; libraries compare it
PYTORCH_API_VERSION = '2.13.0'


def _release(v):
    """(release tuple, is final) of a version given as str, tuple or packaging Version."""
    if isinstance(v, tuple):
        return tuple(int(x) for x in v), True
    if hasattr(v, 'release'):  # packaging.version.Version
        return tuple(v.release), not (v.is_prerelease or v.is_devrelease)
    m = re.match(r'\s*v?(\d+(?:\.\d+)*)(.*)', str(v))
    if m is None:
        raise TypeError(f'cannot compare a version with {v!r}')
    rest = m.group(2).split('+')[0]
    return tuple(int(x) for x in m.group(1).split('.')), not re.match(r'\.?(a|b|rc|dev|alpha|beta|pre)', rest)


def _key(v):
    rel, final = _release(v)
    while rel and rel[-1] == 0:  # 2.13 == 2.13.0
        rel = rel[:-1]
    return rel, final


class TorchVersion(str):
    """A version string that compares as a version (against str, tuple or packaging's Version), as PyTorch's."""

    def _cmp(self, other, op):
        try:
            a, b = _key(self), _key(other)
        except (TypeError, ValueError):
            return NotImplemented
        return op(a, b)

    def __lt__(self, other):
        return self._cmp(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._cmp(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._cmp(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._cmp(other, lambda a, b: a >= b)

    def __eq__(self, other):
        return self._cmp(other, lambda a, b: a == b)

    def __ne__(self, other):
        r = self._cmp(other, lambda a, b: a == b)
        return r if r is NotImplemented else not r

    __hash__ = str.__hash__


class _TorchModule(types.ModuleType):
    """`torch` under the alias: reads fall through to ember (so later additions show too), writes reach both."""

    def __getattr__(self, name):
        return getattr(sys.modules['ember'], name)

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name not in _OWN:
            setattr(sys.modules['ember'], name, value)

    def __dir__(self):
        return dir(sys.modules['ember'])


_OWN = frozenset(('__version__', '__spec__', '__loader__'))
_module = []


def torch_module():
    """The one `torch` module object the alias gives (`import torch` under `ember run` or the shim)."""
    if not _module:
        import ember
        m = _TorchModule('ember', ember.__doc__)  # __name__ says which framework runs
        vars(m).update({k: v for k, v in vars(ember).items() if k not in _OWN})
        object.__setattr__(m, '__version__', TorchVersion(PYTORCH_API_VERSION))
        _module.append(m)
    return _module[0]
