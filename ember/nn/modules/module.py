"""Module: the base of every layer; parameters, buffers and submodules registered by assignment.

Its hook half (forward/backward hooks, calling) is in _module_hooks.py, its state-dict half in _module_state.py."""
from collections import OrderedDict

from ..._tensor import Tensor
from ..._dtype import to_dtype
from ..._printing import typename as _typename
from ...autograd.grad_mode import no_grad
from ..parameter import Parameter, Buffer
from ...utils.hooks import RemovableHandle
from ._module_hooks import (ModuleHooks, _HookDict, register_module_forward_pre_hook, register_module_forward_hook,
                            register_module_full_backward_hook, register_module_full_backward_pre_hook)
from ._module_state import ModuleState

__all__ = ['Module', 'RemovableHandle', 'register_module_forward_pre_hook', 'register_module_forward_hook',
           'register_module_full_backward_hook', 'register_module_full_backward_pre_hook']


# ---- helpers ------------------------------------------------------------------------------------------------------


def _addindent(s, n):
    lines = s.split('\n')
    if len(lines) == 1:
        return s
    pad = ' ' * n
    return lines[0] + '\n' + '\n'.join(pad + line for line in lines[1:])


def _check_name(module, name, kind, store):
    """PyTorch's checks of a name being registered as a ``kind`` ('buffer', 'parameter', 'module') in ``store``."""
    if not isinstance(name, str):
        raise TypeError(f'{kind} name should be a string. Got {_typename(name)}')
    if '.' in name:
        raise KeyError(f'{kind} name can\'t contain "."' + (f', got: {name}' if kind == 'module' else ''))
    if name == '':
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if hasattr(module, name) and name not in store:
        raise KeyError(f"attribute '{name}' already exists")


# ---- Module -------------------------------------------------------------------------------------------------------

class Module(ModuleHooks, ModuleState):
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
        _check_name(self, name, 'buffer', self._buffers)
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
        _check_name(self, name, 'parameter', self._parameters)
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
        _check_name(self, name, 'module', self._modules)
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
