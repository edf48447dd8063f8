"""Custom differentiable ops: subclass Function with static forward(ctx, ...) and backward(ctx, ...), call .apply."""
import functools

from .grad_mode import _State
from .graph import Node, _FREED


class FunctionCtx:
    """What forward hands to backward: saved tensors, needs_input_grad and anything set as an attribute."""

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._versions = tuple(None if t is None else (t._vc[0] if t._vc is not None else 0) for t in tensors)

    @property
    def saved_tensors(self):
        saved = getattr(self, '_saved', ())
        if saved is None:
            raise RuntimeError(_FREED)
        for t, v in zip(saved, self._versions):
            if t is not None and (t._vc[0] if t._vc is not None else 0) != v:
                raise RuntimeError(f'one of the variables needed for gradient computation has been modified by an '
                                   f'inplace operation: a tensor of shape {tuple(t.shape)} saved by '
                                   f'{getattr(self, "_node_name", type(self).__name__)} is at version '
                                   f'{t._version}; expected version {v} instead.')
        return saved

    def mark_non_differentiable(self, *tensors):
        self._non_diff = {id(t) for t in tensors}

    def mark_dirty(self, *tensors):
        self._dirty = {id(t) for t in tensors}

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class FunctionNode(Node):
    """The node of a custom Function: one backward call for all of its outputs."""
    __slots__ = ('cls', 'ctx')

    def apply(self, grads):
        res = self.cls.backward(self.ctx, *grads)
        if not isinstance(res, tuple):
            res = (res,)
        n = len(self.edges)
        if len(res) < n:
            raise RuntimeError(f'function {self._name} returned an incorrect number of gradients (expected {n}, '
                               f'got {len(res)})')
        return list(res[:n])

    def check_saved(self):
        if self.ctx is None:
            raise RuntimeError(_FREED)

    def release(self):
        # as in PyTorch, only the saved tensors are freed: a backward that does not read them may run again
        if self.ctx is not None and getattr(self.ctx, '_saved', ()):
            self.ctx._saved = None


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_name = name + 'Backward'


class Function(metaclass=_FunctionMeta):
    """Base for user-defined ops; see ``apply``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError('You must implement the forward function for custom autograd.Function.')

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError('You must implement either the backward or vjp method for your custom '
                                  'autograd.Function to use it with backward mode AD.')

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @classmethod
    def apply(cls, *args, **kwargs):
        from .._tensor import Tensor, _wrap
        ctx = cls._ctx_class()
        ctx._node_name = cls._backward_name
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._rg for a in args)
        ctx.materialize_grads = True
        prev = _State.grad_enabled
        _State.grad_enabled = False
        try:
            if cls.setup_context is not Function.setup_context and _takes_no_ctx(cls.forward):
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        finally:
            _State.grad_enabled = prev
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        if not (prev and any(ctx.needs_input_grad)):
            return outputs
        edges = tuple(((a.grad_fn, a._out) if a.grad_fn is not None else (a, 0)) if isinstance(a, Tensor) and a._rg
                      else None for a in args)
        node = FunctionNode(cls._backward_name, edges, None)
        node.cls, node.ctx, node.n_out = cls, ctx, len(outs)
        non_diff = getattr(ctx, '_non_diff', set())
        wrapped, shapes = [], []
        for i, o in enumerate(outs):
            if isinstance(o, Tensor):
                shapes.append((o.shape, o.dtype, o._device))
                if id(o) in non_diff or not o.is_floating_point():
                    wrapped.append(o)
                    continue
                w = _wrap(o._data, o._device)
                w._vc = o._vc
                w._rg, w.grad_fn, w._out = True, node, i
                wrapped.append(w)
            else:
                shapes.append(None)
                wrapped.append(o)

        def zeros(i):
            from .._creation import zeros as z
            shape, dtype, dev = shapes[i]
            return z(shape, dtype=dtype, device=dev)
        node.metadata = {'zeros': zeros}
        if _State.anomaly:
            from ..ops._util import _anomaly_forward
            for w in wrapped:
                if isinstance(w, Tensor) and w.grad_fn is node:
                    _anomaly_forward(node, w, args)
        if not ctx.materialize_grads:
            node.metadata['zeros'] = lambda i: None
        return wrapped[0] if single else tuple(wrapped)


def _takes_no_ctx(forward):
    import inspect
    try:
        params = list(inspect.signature(forward).parameters)
    except (TypeError, ValueError):
        return False
    return not params or params[0] != 'ctx'


Function._ctx_class = FunctionCtx


def once_differentiable(fn):
    """Mark a backward that cannot itself be differentiated: it runs with grad off."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        prev = _State.grad_enabled
        _State.grad_enabled = False
        try:
            return fn(ctx, *args)
        finally:
            _State.grad_enabled = prev
    return wrapper
