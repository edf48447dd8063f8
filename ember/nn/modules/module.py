"""Module: the base of every layer; parameters, buffers and submodules registered by assignment, hooks, state dicts."""
import itertools
import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

from ..._tensor import Tensor
from ..._dtype import to_dtype
from ...autograd.grad_mode import no_grad, _State
from ..parameter import Parameter, Buffer
from ...utils.hooks import RemovableHandle, add_hook

__all__ = ['Module', 'RemovableHandle', 'register_module_forward_pre_hook', 'register_module_forward_hook',
           'register_module_full_backward_hook', 'register_module_full_backward_pre_hook']


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


# ---- helpers ------------------------------------------------------------------------------------------------------

class _IncompatibleKeys(namedtuple('IncompatibleKeys', ['missing_keys', 'unexpected_keys'])):
    """What load_state_dict returns: the keys it found missing and the keys it did not expect."""
    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return '<All keys matched successfully>'
        return super().__repr__()

    __str__ = __repr__


_TYPENAMES = {'float32': 'FloatTensor', 'float64': 'DoubleTensor', 'float16': 'HalfTensor', 'int64': 'LongTensor',
              'int32': 'IntTensor', 'int16': 'ShortTensor', 'int8': 'CharTensor', 'uint8': 'ByteTensor',
              'bool': 'BoolTensor'}


def _typename(obj):
    if isinstance(obj, Tensor):
        return 'torch.' + _TYPENAMES.get(obj.dtype.name, 'Tensor')
    t = type(obj)
    return t.__name__ if t.__module__ == 'builtins' else f'{t.__module__}.{t.__qualname__}'


def _addindent(s, n):
    lines = s.split('\n')
    if len(lines) == 1:
        return s
    pad = ' ' * n
    return lines[0] + '\n' + '\n'.join(pad + line for line in lines[1:])


def _check_name(module, name, kind, store):
    if not isinstance(name, str):
        raise TypeError(f'{kind} name should be a string. Got {_typename(name)}')
    if '.' in name:
        raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
    if name == '':
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if hasattr(module, name) and name not in store:
        raise KeyError(f"attribute '{name}' already exists")


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


# ---- Module -------------------------------------------------------------------------------------------------------

class Module:
    """Base class of every layer: assign Parameters, buffers and Modules as attributes and they are registered."""

    dump_patches = False
    _version = 1
    training: bool
    call_super_init = False

    def __init__(self, *args, **kwargs):
        if not self.call_super_init and kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                            f"'{next(iter(kwargs))}'")
        if not self.call_super_init and args:
            raise TypeError(f'{type(self).__name__}.__init__() takes 1 positional argument but {len(args) + 1} were '
                            f'given')
        s = object.__setattr__
        s(self, 'training', True)
        s(self, '_parameters', OrderedDict())
        s(self, '_buffers', OrderedDict())
        s(self, '_non_persistent_buffers_set', set())
        s(self, '_modules', OrderedDict())
        s(self, '_forward_pre_hooks', _HookDict())
        s(self, '_forward_pre_hooks_with_kwargs', {})
        s(self, '_forward_hooks', _HookDict())
        s(self, '_forward_hooks_with_kwargs', {})
        s(self, '_forward_hooks_always_called', {})
        s(self, '_backward_hooks', _HookDict())
        s(self, '_backward_pre_hooks', _HookDict())
        s(self, '_state_dict_hooks', _HookDict())
        s(self, '_state_dict_pre_hooks', _HookDict())
        s(self, '_load_state_dict_pre_hooks', _HookDict())
        s(self, '_load_state_dict_post_hooks', _HookDict())
        if self.call_super_init:
            super().__init__(*args, **kwargs)

    def forward(self, *input):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    # ---- registration -------------------------------------------------------------------------------------------
    def register_buffer(self, name, tensor, persistent=True):
        """Register ``tensor`` (or None) as buffer ``name``; non-persistent buffers stay out of state_dict."""
        if '_buffers' not in self.__dict__:
            raise AttributeError('cannot assign buffer before Module.__init__() call')
        if not isinstance(name, str):
            raise TypeError(f'buffer name should be a string. Got {_typename(name)}')
        if '.' in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == '':
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' (ember Tensor or None "
                            f"required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None) as parameter ``name``."""
        if '_parameters' not in self.__dict__:
            raise AttributeError('cannot assign parameter before Module.__init__() call')
        if not isinstance(name, str):
            raise TypeError(f'parameter name should be a string. Got {_typename(name)}')
        if '.' in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == '':
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' (ember.nn.Parameter or "
                            f"None required)")
        if param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be created "
                             f"explicitly. To express '{name}' as a function of another Tensor, compute the value in "
                             f"the forward() method.")
        self._parameters[name] = param

    def add_module(self, name, module):
        """Register ``module`` (or None) as child ``name``."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f'{_typename(module)} is not a Module subclass')
        if not isinstance(name, str):
            raise TypeError(f'module name should be a string. Got {_typename(name)}')
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if '.' in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == '':
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    def register_module(self, name, module):
        self.add_module(name, module)

    def get_submodule(self, target):
        """The submodule at dotted path ``target`` ('' is this module)."""
        if target == '':
            return self
        mod = self
        for item in target.split('.'):
            if not hasattr(mod, item):
                raise AttributeError(mod._get_name() + ' has no attribute `' + item + '`')
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError('`' + item + '` is not an nn.Module')
        return mod

    def set_submodule(self, target, module, strict=False):
        if target == '':
            raise ValueError('Cannot set the submodule without a target name!')
        parent_path, _, name = target.rpartition('.')
        parent = self.get_submodule(parent_path)
        if strict and not hasattr(parent, name):
            raise AttributeError(parent._get_name() + ' has no attribute `' + name + '`')
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError('`' + name + '` is not an nn.Module')
        setattr(parent, name, module)

    def get_parameter(self, target):
        module_path, _, name = target.rpartition('.')
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + ' has no attribute `' + name + '`')
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError('`' + name + '` is not an nn.Parameter')
        return param

    def get_buffer(self, target):
        module_path, _, name = target.rpartition('.')
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + ' has no attribute `' + name + '`')
        if name not in mod._buffers:
            raise AttributeError('`' + name + '` is not a buffer')
        return getattr(mod, name)

    def get_extra_state(self):
        raise RuntimeError('Reached a code path in Module.get_extra_state() that should never be called.')

    def set_extra_state(self, state):
        raise RuntimeError('Reached a code path in Module.set_extra_state() that should never be called.')

    # ---- attribute protocol -------------------------------------------------------------------------------------
    def __getattr__(self, name):
        d = self.__dict__
        if '_parameters' in d:
            p = d['_parameters']
            if name in p:
                return p[name]
        if '_buffers' in d:
            b = d['_buffers']
            if name in b:
                return b[name]
        if '_modules' in d:
            m = d['_modules']
            if name in m:
                return m[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        d = self.__dict__

        def remove_from(*dicts_or_sets):
            for s in dicts_or_sets:
                if name in s:
                    if isinstance(s, dict):
                        del s[name]
                    else:
                        s.discard(name)

        params = d.get('_parameters')
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError('cannot assign parameters before Module.__init__() call')
            remove_from(d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' (ember.nn.Parameter or "
                                f"None expected)")
            self.register_parameter(name, value)
            return
        modules = d.get('_modules')
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError('cannot assign module before Module.__init__() call')
            remove_from(d, self._parameters, self._buffers, self._non_persistent_buffers_set)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' (ember.nn.Module or "
                                f"None expected)")
            modules[name] = value
            return
        buffers = d.get('_buffers')
        if isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if buffers is None:
                raise AttributeError('cannot assign buffer before Module.__init__() call')
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' (ember.Tensor or None "
                                f"expected)")
            if isinstance(value, Buffer):
                persistent = value.persistent
            else:
                persistent = name not in self._non_persistent_buffers_set
            remove_from(d, self._parameters, self._modules)
            buffers[name] = value
            if persistent:
                self._non_persistent_buffers_set.discard(name)
            else:
                self._non_persistent_buffers_set.add(name)
            return
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        attrs = list(self.__dict__) + list(self._parameters) + list(self._modules) + list(self._buffers)
        keys = list(dir(type(self))) + attrs
        return sorted(k for k in set(keys) if not k[0].isdigit())

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ('_forward_pre_hooks', '_forward_hooks', '_backward_hooks', '_backward_pre_hooks',
                     '_state_dict_hooks', '_state_dict_pre_hooks', '_load_state_dict_pre_hooks',
                     '_load_state_dict_post_hooks'):
            if name not in self.__dict__:
                self.__dict__[name] = _HookDict()
        for name in ('_forward_pre_hooks_with_kwargs', '_forward_hooks_with_kwargs',
                     '_forward_hooks_always_called'):
            self.__dict__.setdefault(name, {})
        self.__dict__.setdefault('_non_persistent_buffers_set', set())

    def __getstate__(self):
        return self.__dict__.copy()

    # ---- iteration ----------------------------------------------------------------------------------------------
    def _named_members(self, get_members, prefix='', recurse=True, remove_duplicate=True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else \
            [(prefix, self)]
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or id(v) in memo:
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield module_prefix + ('.' if module_prefix else '') + k, v

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_parameters(self, prefix='', recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_buffers(self, prefix='', recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_children(self):
        memo = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in memo:
                memo.add(id(m))
                yield name, m

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_modules(self, memo=None, prefix='', remove_duplicate=True):
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ('.' if prefix else '') + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    # ---- modes and gradients ------------------------------------------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError('training mode is expected to be boolean')
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    def share_memory(self):
        """Move every parameter, gradient and buffer into shared memory (Tensor.share_memory_), for Hogwild."""
        return self._apply(lambda t: t.share_memory_())

    # ---- conversion ---------------------------------------------------------------------------------------------
    def _apply(self, fn, recurse=True):
        if recurse:
            for m in self.children():
                m._apply(fn)
        for key, param in self._parameters.items():
            if param is None:
                continue
            with no_grad():
                new = fn(param)
            if new is not param:
                param.data = new
            if param.grad is not None:
                with no_grad():
                    g = fn(param.grad)
                if g is not param.grad:
                    param.grad.data = g
        for key, buf in self._buffers.items():
            if buf is not None:
                self._buffers[key] = fn(buf)
        return self

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, *args, **kwargs):
        """Move and/or cast parameters and buffers: ``to(device)``, ``to(dtype)``, ``to(tensor)``, ``to(device, dtype)``.

        Casting only touches floating-point tensors, as in PyTorch."""
        device, dtype = kwargs.pop('device', None), kwargs.pop('dtype', None)
        kwargs.pop('non_blocking', None)
        kwargs.pop('memory_format', None)
        if kwargs:
            raise TypeError(f"to() received an invalid combination of arguments: {', '.join(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a._device, a.dtype
            elif isinstance(a, bool):
                continue
            elif isinstance(a, str) or isinstance(a, int) or type(a).__name__ == 'device':
                device = a
            elif a is not None:
                dtype = a
        if dtype is not None:
            dtype = to_dtype(dtype)
            if not dtype.is_floating_point:
                raise TypeError(f'nn.Module.to only accepts floating point or complex dtypes, but got desired dtype='
                                f'{dtype}')

        def convert(t):
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)
        return self._apply(convert)

    def to_empty(self, *, device=None, recurse=True):
        from ..._creation import empty_like
        return self._apply(lambda t: empty_like(t, device=device), recurse=recurse)

    def cuda(self, device=None):
        return self._apply(lambda t: t.cuda(device))

    def cpu(self):
        return self._apply(lambda t: t.cpu())

    def type(self, dst_type):
        return self._apply(lambda t: t.type(dst_type))

    def float(self):
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self):
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def half(self):
        return self._apply(lambda t: t.half() if t.is_floating_point() else t)

    def bfloat16(self):
        raise TypeError('ember has no bfloat16 dtype (NumPy has none); use float32 or float16')

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

    def register_state_dict_pre_hook(self, hook):
        """``hook(module, prefix, keep_vars)`` before state_dict() collects this module's entries."""
        return _add_hook(self._state_dict_pre_hooks, hook)

    def register_state_dict_post_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata)`` after state_dict() collected this module's entries."""
        return _add_hook(self._state_dict_hooks, hook)

    _register_state_dict_hook = register_state_dict_post_hook

    def register_load_state_dict_pre_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)``."""
        return _add_hook(self._load_state_dict_pre_hooks, hook)

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        if with_module:
            return self.register_load_state_dict_pre_hook(hook)
        return self.register_load_state_dict_pre_hook(lambda module, *args: hook(*args))

    def register_load_state_dict_post_hook(self, hook):
        """``hook(module, incompatible_keys)`` after load_state_dict(); it may edit the key lists in place."""
        return _add_hook(self._load_state_dict_post_hooks, hook)

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

    # ---- state dicts --------------------------------------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + '_extra_state'] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix='', keep_vars=False):
        """An OrderedDict of every parameter and persistent buffer by dotted name (detached, sharing storage)."""
        if args:
            warnings.warn('Positional args are being deprecated, use kwargs instead.', FutureWarning, stacklevel=2)
            destination = args[0] if len(args) > 0 and destination is None else destination
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = dict(version=self._version)
        if hasattr(destination, '_metadata'):
            destination._metadata[prefix[:-1]] = local_metadata
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + '.', keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            res = hook(self, destination, prefix, local_metadata)
            if res is not None:
                destination = res
        return destination

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        for hook in self._load_state_dict_pre_hooks.values():
            hook(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        persistent = {k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set}
        local_state = {k: v for k, v in itertools.chain(self._parameters.items(), persistent.items())
                       if v is not None}
        assign = (local_metadata or {}).get('assign_to_params_buffers', False)
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                error_msgs.append(f'While copying the parameter named "{key}", expected ember.Tensor or Tensor-like '
                                  f'object from checkpoint but received {type(value)}')
                continue
            if value.shape != param.shape:
                error_msgs.append(f'size mismatch for {key}: copying a param with shape {value.shape} from '
                                  f'checkpoint, the shape in current model is {param.shape}.')
                continue
            try:
                with no_grad():
                    if assign:
                        if isinstance(param, Parameter):
                            new = value if isinstance(value, Parameter) else Parameter(value, param.requires_grad)
                            setattr(self, name, new)
                        else:
                            setattr(self, name, value)
                    else:
                        param.copy_(value)
            except Exception as e:
                error_msgs.append(f'While copying the parameter named "{key}", whose dimensions in the model are '
                                  f'{param.shape} and whose dimensions in the checkpoint are {value.shape}, an '
                                  f'exception occurred : {e.args}.')
        extra_key = prefix + '_extra_state'
        if type(self).set_extra_state is not Module.set_extra_state:
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    parts = key[len(prefix):].split('.', 1)
                    if len(parts) > 1:
                        if parts[0] not in self._modules:
                            unexpected_keys.append(key)
                    elif parts[0] not in local_state:
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy ``state_dict``'s tensors into this module's parameters and buffers (in place, no grad).

        Returns ``(missing_keys, unexpected_keys)``; with ``strict`` either being non-empty is a RuntimeError."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f'Expected state_dict to be dict-like, got {type(state_dict)}.')
        missing, unexpected, errors = [], [], []
        metadata = getattr(state_dict, '_metadata', None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata

        def load(module, local_state, prefix=''):
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata['assign_to_params_buffers'] = assign
            module._load_from_state_dict(local_state, prefix, local_metadata, True, missing, unexpected, errors)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + '.'
                    child_state = {k: v for k, v in local_state.items() if k.startswith(child_prefix)}
                    load(child, child_state, child_prefix)
            keys = _IncompatibleKeys(missing, unexpected)
            for hook in module._load_state_dict_post_hooks.values():
                hook(module, keys)

        load(self, state_dict)
        if strict:
            if unexpected:
                errors.insert(0, 'Unexpected key(s) in state_dict: {}. '.format(
                    ', '.join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, 'Missing key(s) in state_dict: {}. '.format(', '.join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError('Error(s) in loading state_dict for {}:\n\t{}'.format(
                type(self).__name__, '\n\t'.join(errors)))
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing -----------------------------------------------------------------------------------------------
    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        """The text inside this module's parentheses in its repr (override to describe its configuration)."""
        return ''

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split('\n') if extra else []
        child_lines = [f'({key}): ' + _addindent(repr(m), 2) for key, m in self._modules.items()]
        lines = extra_lines + child_lines
        s = self._get_name() + '('
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                s += extra_lines[0]
            else:
                s += '\n  ' + '\n  '.join(lines) + '\n'
        return s + ')'

    def compile(self, *args, **kwargs):
        """PyTorch's in-place compile: ember runs eagerly, so nothing changes."""
        return None
