"""Module hooks: the global registries, the backward-hook wrapper, and Module's hook registration and calling."""
import itertools
import warnings
from collections import OrderedDict

from ..._tensor import Tensor
from ...autograd.grad_mode import _State
from ...utils.hooks import add_hook

__all__ = ['register_module_forward_pre_hook', 'register_module_forward_hook', 'register_module_full_backward_hook',
           'register_module_full_backward_pre_hook']

# ---- hook handles -------------------------------------------------------------------------------------------------

_HookDict = OrderedDict
_add_hook = add_hook


_global_forward_pre_hooks = _HookDict()
_global_forward_hooks = _HookDict()
_global_backward_hooks = _HookDict()
_global_backward_pre_hooks = _HookDict()


def register_module_forward_pre_hook(hook):
    """A forward pre-hook run before every module's forward: ``hook(module, args) -> None or new args``."""
    return _add_hook(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, always_call=False):
    """A forward hook run after every module's forward: ``hook(module, args, output) -> None or new output``."""
    return _add_hook(_global_forward_hooks, hook)


def register_module_full_backward_hook(hook):
    """A backward hook for every module: ``hook(module, grad_input, grad_output) -> None or new grad_input``."""
    return _add_hook(_global_backward_hooks, hook)


def register_module_full_backward_pre_hook(hook):
    """A backward pre-hook for every module: ``hook(module, grad_output) -> None or new grad_output``."""
    return _add_hook(_global_backward_pre_hooks, hook)


# ---- backward hooks -----------------------------------------------------------------------------------------------

def _identity_fn():
    from ...autograd.function import Function

    class BackwardHookFunction(Function):
        @staticmethod
        def forward(ctx, callback, *tensors):
            ctx.callback = callback
            return tensors

        @staticmethod
        def backward(ctx, *grads):
            return (None,) + tuple(ctx.callback(grads))
    return BackwardHookFunction


_BackwardHookFunction = None


class _BackwardHook:
    """Wraps a call's tensor inputs and outputs in identity ops whose backward runs the module's backward hooks."""

    def __init__(self, module, hooks, pre_hooks):
        global _BackwardHookFunction
        if _BackwardHookFunction is None:
            _BackwardHookFunction = _identity_fn()
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs = None
        self.n_inputs = 0
        self.input_used = False

    def setup_input_hook(self, args):
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(tensor_pos)
        if not self.hooks:
            return args
        tensors = [args[i] for i in tensor_pos]
        pos = [i for i, t in enumerate(tensors) if t.requires_grad]
        if not pos or not _State.grad_enabled:
            return args
        self.input_used = True

        def on_inputs(grads):
            full = [None] * len(tensors)
            for p, g in zip(pos, grads):
                full[p] = g
            grad_input = tuple(full)
            for hook in self.hooks:
                res = hook(self.module, grad_input, self.grad_outputs)
                if res is not None:
                    res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
                    if len(res) != len(grad_input):
                        raise RuntimeError(f'Backward hook returned an invalid number of grad_input, got '
                                           f'{len(res)}, but expected {len(grad_input)}')
                    grad_input = res
            return [grad_input[p] for p in pos]
        new = _BackwardHookFunction.apply(on_inputs, *[tensors[p] for p in pos])
        out = list(args)
        for p, t in zip(pos, new):
            out[tensor_pos[p]] = t
        return tuple(out)

    def setup_output_hook(self, result):
        single = isinstance(result, Tensor)
        values = [result] if single else list(result) if isinstance(result, (tuple, list)) else None
        if values is None:
            return result
        pos = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
        if not pos or not _State.grad_enabled:
            return result

        def on_outputs(grads):
            grad_output = tuple(grads)
            for hook in self.pre_hooks:
                res = hook(self.module, grad_output)
                if res is not None:
                    res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
                    if len(res) != len(grad_output):
                        raise RuntimeError(f'Backward pre hook returned an invalid number of grad_output, got '
                                           f'{len(res)}, but expected {len(grad_output)}')
                    grad_output = res
            self.grad_outputs = grad_output
            if not self.input_used and self.hooks:
                grad_input = (None,) * self.n_inputs
                for hook in self.hooks:
                    res = hook(self.module, grad_input, grad_output)
                    if res is not None and not all(r is None for r in (res if isinstance(res, tuple) else (res,))):
                        raise RuntimeError('Backward hook for Modules where no input requires gradient should '
                                           'always return None or None for all gradients.')
            return list(grad_output)
        new = _BackwardHookFunction.apply(on_outputs, *[values[i] for i in pos])
        for i, t in zip(pos, new):
            values[i] = t
        if single:
            return values[0]
        return type(result)(values) if isinstance(result, list) else tuple(values)


class ModuleHooks:
    """Module's hook half: registering forward/backward hooks, and calling forward through them."""

    # ---- hooks --------------------------------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` (or ``hook(module, args, kwargs)`` with_kwargs) before forward; it may return
        replacement args (or an ``(args, kwargs)`` pair)."""
        handle = _add_hook(self._forward_pre_hooks, hook, prepend, extra=self._forward_pre_hooks_with_kwargs)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        return handle

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """``hook(module, args, output)`` (or ``hook(module, args, kwargs, output)``) after forward; it may return a
        replacement output."""
        handle = _add_hook(self._forward_hooks, hook, prepend,
                           extra=[self._forward_hooks_with_kwargs, self._forward_hooks_always_called])
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        return handle

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` once the gradients w.r.t. the module's tensor inputs are known;
        it may return replacement grad_input."""
        return _add_hook(self._backward_hooks, hook, prepend)

    def register_backward_hook(self, hook):
        warnings.warn('register_backward_hook is deprecated; ember runs it as register_full_backward_hook',
                      FutureWarning, stacklevel=2)
        return self.register_full_backward_hook(hook)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` before the module's input gradients are computed; it may return a
        replacement grad_output."""
        return _add_hook(self._backward_pre_hooks, hook, prepend)

    # ---- calling ------------------------------------------------------------------------------------------------
    def _call_impl(self, *args, **kwargs):
        d = self.__dict__
        if not (d['_forward_pre_hooks'] or d['_forward_hooks'] or d['_backward_hooks'] or d['_backward_pre_hooks']
                or _global_forward_pre_hooks or _global_forward_hooks or _global_backward_hooks
                or _global_backward_pre_hooks):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    __call__ = _call_impl

    def _call_with_hooks(self, args, kwargs):
        for hid, hook in itertools.chain(_global_forward_pre_hooks.items(), self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if isinstance(res, tuple) and len(res) == 2:
                        args, kwargs = res
                    else:
                        raise RuntimeError(f'forward pre-hook must return None or a tuple of (new_args, new_kwargs), '
                                           f'but got {res}.')
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        bw_hooks = list(_global_backward_hooks.values()) + list(self._backward_hooks.values())
        bw_pre = list(_global_backward_pre_hooks.values()) + list(self._backward_pre_hooks.values())
        bw = None
        if bw_hooks or bw_pre:
            bw = _BackwardHook(self, bw_hooks, bw_pre)
            args = bw.setup_input_hook(tuple(args))
        called = set()
        try:
            result = self.forward(*args, **kwargs)
            for hid, hook in itertools.chain(_global_forward_hooks.items(), self._forward_hooks.items()):
                called.add(hid)
                if hid in self._forward_hooks_with_kwargs:
                    res = hook(self, args, kwargs, result)
                else:
                    res = hook(self, args, result)
                if res is not None:
                    result = res
        except Exception:
            for hid, hook in self._forward_hooks.items():
                if hid in self._forward_hooks_always_called and hid not in called:
                    try:
                        if hid in self._forward_hooks_with_kwargs:
                            hook(self, args, kwargs, None)
                        else:
                            hook(self, args, None)
                    except Exception as e:
                        warnings.warn(f'forward hook with always_call=True raised an exception that was silenced '
                                      f'as another error was raised in forward: {e}')
            raise
        if bw is not None:
            result = bw.setup_output_hook(result)
        return result
