"""Parameter: a Tensor that a Module registers as learnable; Buffer: a tensor a Module registers as state."""
from .._tensor import Tensor
from .._creation import empty

__all__ = ['Parameter', 'Buffer', 'UninitializedParameter', 'UninitializedBuffer']


def _share_into(t, data):
    """Make tensor ``t`` a leaf handle on ``data``'s storage (and version counter)."""
    if data._vc is None:
        data._vc = [0]
    t._data, t._device, t._vc = data._data, data._device, data._vc
    t.grad, t.grad_fn, t._out, t._hooks, t._rg = None, None, 0, None, False


class Parameter(Tensor):
    """A tensor that is a module's learnable state: assigning one to a Module attribute registers it.

    It shares storage with the tensor it is made from and requires grad unless told otherwise.
    """

    def __new__(cls, data=None, requires_grad=True):
        return Tensor.__new__(cls)

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f'Parameter data must be a Tensor, not {type(data).__name__}')
        _share_into(self, data)
        if requires_grad:
            self.requires_grad = True

    def __repr__(self):
        return 'Parameter containing:\n' + Tensor.__repr__(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.numpy(force=True), str(self._device), self._rg))

    __hash__ = Tensor.__hash__


def _rebuild_parameter(array, device, requires_grad):
    from ..serialization import _rebuild_tensor
    return Parameter(_rebuild_tensor(array, device, False), requires_grad)


class _BufferMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and getattr(obj, '_is_buffer', False)


class Buffer(metaclass=_BufferMeta):
    """Marks a tensor as a module buffer: ``self.stats = nn.Buffer(t)`` registers it as ``register_buffer`` does.

    ``persistent=False`` keeps it out of the state dict.
    """

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = empty(0)
        t = data.detach()
        t._is_buffer = True
        t.persistent = persistent
        return t


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (lazy modules); ember has no lazy modules, so it only holds a place."""

    def __init__(self, requires_grad=True, device=None, dtype=None):
        super().__init__(empty(0, device=device, dtype=dtype), requires_grad)

    def materialize(self, shape, device=None, dtype=None):
        rg = self._rg
        _share_into(self, empty(*shape, device=device or self._device, dtype=dtype or self.dtype))
        self.__class__ = Parameter
        self.requires_grad = rg


class UninitializedBuffer(Tensor):
    """The buffer counterpart of UninitializedParameter (a placeholder)."""

    def __new__(cls, requires_grad=False, device=None, dtype=None):
        return Tensor.__new__(cls)

    def __init__(self, requires_grad=False, device=None, dtype=None):
        _share_into(self, empty(0, device=device, dtype=dtype))
