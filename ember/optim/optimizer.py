"""The Optimizer API: param groups, state, state dicts, zero_grad, step hooks (the update engine: _engine.py)."""
import functools
import itertools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy

from .._tensor import Tensor, _wrap
from .._dtype import get_default_dtype, float64, float32
from .._printing import typename as _typename
from ..backends import cpu
from ._threads import set_num_threads, get_num_threads
from ..utils.hooks import add_hook

__all__ = ['Optimizer', 'required', 'register_optimizer_step_pre_hook', 'register_optimizer_step_post_hook',
           'set_num_threads', 'get_num_threads']


class _RequiredParameter:
    """Singleton marking a hyper-parameter every param group must give (PyTorch's ``required``)."""

    def __repr__(self):
        return '<required parameter>'

    def __reduce__(self):
        return 'required'


required = _RequiredParameter()


_add_hook = add_hook

_global_pre_hooks = OrderedDict()
_global_post_hooks = OrderedDict()


def register_optimizer_step_pre_hook(hook):
    """A hook run before every optimizer's step: ``hook(optimizer, args, kwargs) -> None or (args, kwargs)``."""
    return _add_hook(_global_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """A hook run after every optimizer's step: ``hook(optimizer, args, kwargs) -> None``."""
    return _add_hook(_global_post_hooks, hook)


def _hooked_step(step):
    """Wrap a subclass's ``step`` so step hooks run around it and LR schedulers can see it was called."""
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if self.__dict__.get('_in_step'):  # a subclass's step calling super().step(): hooks already ran
            return step(self, *args, **kwargs)
        self._in_step = True
        try:
            return _run_hooked(step, self, args, kwargs)
        finally:
            self._in_step = False
    wrapper._ember_hooked = True
    return wrapper


def _run_hooked(step, self, args, kwargs):
    """Pre hooks (which may replace the arguments), the step, then post hooks."""
    pre = self._optimizer_step_pre_hooks
    if pre or _global_pre_hooks:
        for hook in itertools.chain(_global_pre_hooks.values(), pre.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(f'{hook} must return None or a tuple of (new_args, new_kwargs), but '
                                       f'got {result}.')
    out = step(self, *args, **kwargs)
    self._opt_called = True
    post = self._optimizer_step_post_hooks
    if post or _global_post_hooks:
        for hook in itertools.chain(post.values(), _global_post_hooks.values()):
            hook(self, args, kwargs)
    return out


def _scalar_dtype():
    """The dtype of scalar state such as 'step': float64 when that is the default dtype, else float32."""
    return float64 if get_default_dtype() is float64 else float32


def _scalar_tensor(value):
    return _wrap(cpu.xp.array(value, dtype=_scalar_dtype().np), cpu)


def _value(x):
    """A hyper-parameter as a Python number (learning rates may be given as tensors)."""
    return x.item() if isinstance(x, Tensor) else x


class Optimizer:
    """Base of all optimizers: ``params`` is an iterable of tensors, of (name, tensor) pairs, or of dicts (param
    groups with their own options); ``defaults`` holds the options a group does not give."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get('step')
        if step is not None and not getattr(step, '_ember_hooked', False):
            cls.step = _hooked_step(step)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._init_hooks()
        if isinstance(params, Tensor):
            raise TypeError('params argument given to the optimizer should be an iterable of Tensors or dicts, but '
                            f'got {_typename(params)}')
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError('optimizer got an empty parameter list')
        if not isinstance(param_groups[0], dict):
            param_groups = [{'params': param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def _init_hooks(self):
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        self._engine_reset()

    def _engine_reset(self):
        """Drop caches derived from the state layout (after load_state_dict and unpickling); see _engine.py."""

    # ---- pickling and copying: hooks and caches are not part of an optimizer's value --------------------------------
    def __getstate__(self):
        return {'defaults': self.defaults, 'state': self.state, 'param_groups': self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        if '_optimizer_step_pre_hooks' not in self.__dict__:
            self._init_hooks()
        self._engine_reset()
        if not isinstance(self.state, defaultdict):
            self.state = defaultdict(dict, self.state)
        for group in self.param_groups:
            for k, v in self.defaults.items():
                if v is not required:
                    group.setdefault(k, v)
        self._patch_state()

    def _patch_state(self):
        """Bring loaded state up to date (scalar state such as 'step' saved as plain numbers becomes tensors)."""
        for name in getattr(self, '_scalar_names', ()):
            for st in self.state.values():
                if isinstance(st, dict) and name in st and not isinstance(st[name], Tensor):
                    st[name] = _scalar_tensor(float(st[name]))

    def __repr__(self):
        s = self.__class__.__name__ + ' ('
        for i, group in enumerate(self.param_groups):
            s += '\n'
            s += f'Parameter Group {i}\n'
            for key in sorted(group.keys()):
                if key != 'params':
                    s += f'    {key}: {group[key]}\n'
        s += ')'
        return s

    # ---- param groups -------------------------------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group of parameters, with options of its own, to be optimized alongside the others."""
        if not isinstance(param_group, dict):
            raise TypeError(f'param_group must be a dict, but got {type(param_group)}')
        params = param_group['params']
        if isinstance(params, Tensor):
            param_group['params'] = [params]
        elif isinstance(params, set):
            raise TypeError('optimizer parameters need to be organized in ordered collections, but the ordering of '
                            'tensors in sets will change between runs. Please use a list instead.')
        else:
            param_group['params'] = list(params)
        tensors, names = [], []
        for p in param_group['params']:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group['params'] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError('all optimizer params should be with/without names. Some param names are missing')
            param_group['param_names'] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(f'optimizer can only optimize Tensors, but one of the params is {_typename(p)}')
            if not self.defaults.get('differentiable', None) and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter "
                                 f'{name}')
            param_group.setdefault(name, default)
        if len(tensors) != len({id(p) for p in tensors}):
            warnings.warn('optimizer contains a parameter group with duplicate parameters; in future, this will '
                          'cause an error; see github.com/pytorch/pytorch/issues/40967 for more information',
                          stacklevel=3)
        seen = {id(p) for group in self.param_groups for p in group['params']}
        if any(id(p) in seen for p in tensors):
            raise ValueError('some parameters appear in more than one parameter group')
        if self.param_groups and (('param_names' in param_group) != ('param_names' in self.param_groups[0])):
            raise ValueError('all optimizer param groups should be with/without names.')
        self.param_groups.append(param_group)

    # ---- gradients and stepping ---------------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all optimized tensors: to None (the default), or to zeros in place."""
        for group in self.param_groups:
            for p in group['params']:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g._data.fill(0)
                    g._bump()

    def step(self, closure=None):
        raise NotImplementedError

    # ---- hooks --------------------------------------------------------------------------------------------------
    def register_step_pre_hook(self, hook):
        """``hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs)``, run before each step."""
        return _add_hook(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs) -> None``, run after each step."""
        return _add_hook(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend=False):
        """``hook(optimizer) -> None``, run before state_dict() builds its result."""
        return _add_hook(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend=False):
        """``hook(optimizer, state_dict) -> state_dict or None``, run on state_dict()'s result."""
        return _add_hook(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        """``hook(optimizer, state_dict) -> state_dict or None``, run before load_state_dict() reads it."""
        return _add_hook(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        """``hook(optimizer) -> None``, run after load_state_dict()."""
        return _add_hook(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ---- state dicts --------------------------------------------------------------------------------------------
    def state_dict(self):
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``, parameters numbered in
        group order; state tensors are the optimizer's own (copy them to keep a snapshot)."""
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != 'params'}
            for p in group['params']:
                if id(p) not in index:
                    index[id(p)] = len(index)
            packed['params'] = [index[id(p)] for p in group['params']]
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): dict(v) if isinstance(v, dict) else v
                 for k, v in self.state.items()}
        sd = {'state': state, 'param_groups': groups}
        for hook in self._optimizer_state_dict_post_hooks.values():
            result = hook(self, sd)
            if result is not None:
                sd = result
        return sd

    @staticmethod
    def _cast_state(param, value, key=None):
        """A copy of a loaded state value placed like ``param``: floating tensors take its dtype and device
        ('step' keeps its own dtype), other tensors its device; containers are cast element by element."""
        if isinstance(value, Tensor):
            if key == 'step':
                return value.clone()
            if value.is_floating_point():
                out = value.to(dtype=param.dtype, device=param.device)
            else:
                out = value.to(device=param.device)
            return out.clone() if out is value else out
        if isinstance(value, dict):
            return {k: Optimizer._cast_state(param, v, k) for k, v in value.items()}
        if isinstance(value, (list, tuple)) and not isinstance(value, str):
            return type(value)(Optimizer._cast_state(param, v, key) for v in value)
        return value

    def load_state_dict(self, state_dict):
        """Take state and group options from ``state_dict`` (as state_dict() returns); the parameters stay ours.
        State tensors are copied, so the source dict and this optimizer never share memory."""
        state_dict = dict(state_dict)
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict['param_groups'])
        if len(groups) != len(saved_groups):
            raise ValueError('loaded state dict has a different number of parameter groups')
        if any(len(g['params']) != len(s['params']) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(itertools.chain.from_iterable(s['params'] for s in saved_groups),
                          itertools.chain.from_iterable(g['params'] for g in groups)))
        state = defaultdict(dict)
        for k, v in state_dict['state'].items():
            if k in id_map:
                state[id_map[k]] = self._cast_state(id_map[k], v)
            else:
                state[k] = v
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved['params'] = group['params']
            if 'param_names' in group and 'param_names' not in saved:
                saved['param_names'] = group['param_names']
            new_groups.append(saved)
        self.__setstate__({'state': state, 'param_groups': new_groups})
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)

# ---- argument checks shared by the optimizers ----------------------------------------------------------------------
def _check_betas(betas):
    if not 0.0 <= _value(betas[0]) < 1.0:
        raise ValueError(f'Invalid beta parameter at index 0: {betas[0]}')
    if not 0.0 <= _value(betas[1]) < 1.0:
        raise ValueError(f'Invalid beta parameter at index 1: {betas[1]}')


def _check(name, value, label=None):
    if not 0.0 <= _value(value):
        raise ValueError(f'Invalid {label or name} value: {value}')


def _check_lr(lr):
    if not 0.0 <= _value(lr):
        raise ValueError(f'Invalid learning rate: {lr}')


def _check_unsupported(differentiable=False, fused=None, foreach=None):
    """Options ember does not implement, and the combinations PyTorch refuses. ``fused=True`` is accepted: on
    cuda, SGD/Adam/AdamW then run the multi-tensor kernels (ember/optim/_fused.py); on cpu the NumPy update is
    the same either way."""
    if fused and differentiable:
        raise RuntimeError('`fused` does not support `differentiable`')
    if differentiable:
        raise NotImplementedError('ember optimizers do not support differentiable=True')
    if fused and foreach:
        raise RuntimeError('`fused` and `foreach` cannot be `True` together.')
