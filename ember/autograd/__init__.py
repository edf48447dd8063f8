"""Reverse-mode autograd: backward(), grad(), custom Functions, gradcheck and anomaly detection."""
from .grad_mode import no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled, _State
from .graph import Node
from .engine import run_backward
from .function import Function, FunctionCtx, once_differentiable
from .gradcheck import gradcheck, gradgradcheck, GradcheckError
from .anomaly import detect_anomaly, set_detect_anomaly, is_anomaly_enabled
from . import functional
from .._tensor_core import TensorCore as _Tensor, _wrap  # (isinstance only: every ember.Tensor is one)
from ..backends import cpu as _cpu

__all__ = ['backward', 'grad', 'Function', 'FunctionCtx', 'gradcheck', 'gradgradcheck', 'no_grad', 'enable_grad',
           'set_grad_enabled', 'inference_mode', 'detect_anomaly', 'set_detect_anomaly', 'Node', 'functional',
           'Variable']


class _VariableMeta(type):
    def __instancecheck__(cls, obj):  # every tensor is a Variable, as in PyTorch since 0.4
        return isinstance(obj, _Tensor)


class Variable(metaclass=_VariableMeta):
    """PyTorch's deprecated wrapper, kept for old scripts: ``Variable(t, requires_grad=False)`` is a tensor sharing
    t's data, detached from its graph, requiring grad as asked."""

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        if volatile:
            import warnings
            warnings.warn('volatile was removed and now has no effect. Use `with torch.no_grad():` instead.',
                          UserWarning, stacklevel=2)
        if data is None:
            from .._creation import empty
            data = empty(0)
        if not isinstance(data, _Tensor):
            raise TypeError(f'Variable data has to be a tensor, but got {type(data).__name__}')
        return data.detach().requires_grad_(requires_grad)


def _as_list(x):
    if x is None:
        return None
    return [x] if isinstance(x, _Tensor) else list(x)


def _seed_grads(outputs, grad_outputs, who):
    seeds = []
    grad_outputs = grad_outputs if grad_outputs is not None else [None] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f'{who}: got {len(grad_outputs)} gradients for {len(outputs)} outputs')
    for i, (t, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(t, _Tensor):
            raise TypeError(f'{who}: element {i} of outputs is {type(t).__name__}, not a Tensor')
        if not t.requires_grad:
            why = '' if t.is_floating_point() else (f' (it has dtype {t.dtype.name}: only floating-point tensors '
                                                     f'can require grad)')
            raise RuntimeError(f'element {i} of tensors does not require grad and does not have a grad_fn{why}. '
                               f'Did you create it under no_grad(), or forget requires_grad=True on its inputs?')
        if g is None:
            if t.numel() != 1:
                raise RuntimeError(f'grad can be implicitly created only for scalar outputs (element {i} has shape '
                                   f'{tuple(t.shape)}); pass a gradient of that shape, or reduce it with .sum() '
                                   f'or .mean() first')
            if t.is_complex():
                raise RuntimeError(f'grad can be implicitly created only for real scalar outputs but got {t.dtype}')
            if t._device is _cpu:  # the common case, without ones_like's device context and argument parsing
                g = _wrap(_cpu.xp.ones(t._data.shape, t._data.dtype), _cpu)
            else:
                from .._creation import ones_like
                g = ones_like(t)
        elif not isinstance(g, _Tensor):
            from .._creation import tensor
            g = tensor(g, dtype=t.dtype, device=t.device)
        elif g.shape != t.shape:
            raise RuntimeError(f'Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and output[{i}] '
                               f'has a shape of {tuple(t.shape)}.')
        seeds.append(g)
    return seeds


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad`` (or only into ``inputs``' when given)."""
    tensors = _as_list(tensors)
    grad_tensors = _as_list(grad_tensors if grad_tensors is not None else grad_variables)
    seeds = _seed_grads(tensors, grad_tensors, 'backward')
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = _as_list(inputs)
        grads = run_backward(tensors, seeds, retain_graph, create_graph, inputs=inputs, allow_unused=True)
        for t, g in zip(inputs, grads):
            if g is not None:
                g = g if create_graph else g.detach()
                t.grad = g.clone() if t.grad is None and not create_graph else (g if t.grad is None else t.grad + g)
        return
    run_backward(tensors, seeds, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned (nothing accumulates into ``.grad``)."""
    from .._creation import zeros_like
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f'One of the differentiated Tensors (input {i}) does not require grad')
    seeds = _seed_grads(outputs, _as_list(grad_outputs), 'grad')
    if retain_graph is None:
        retain_graph = create_graph
    allow = bool(allow_unused) or materialize_grads
    res = run_backward(outputs, seeds, retain_graph, create_graph, inputs=inputs, allow_unused=allow)
    if materialize_grads:
        res = tuple(zeros_like(t) if g is None else g for t, g in zip(inputs, res))
    if not create_graph:
        res = tuple(None if g is None else g.detach() for g in res)
    return res
