"""Optimizer base (param groups, state, state dicts, hooks) and the engine that updates whole groups at once."""
import functools
import itertools
import os
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy

from .._tensor import Tensor, _wrap
from .._dtype import get_default_dtype, float64, float32
from .. import backends as _backends
from ..backends import cpu
from ..autograd.grad_mode import enable_grad

__all__ = ['Optimizer', 'required', 'register_optimizer_step_pre_hook', 'register_optimizer_step_post_hook',
           'set_num_threads', 'get_num_threads']


class _RequiredParameter:
    """Singleton marking a hyper-parameter every param group must give (PyTorch's ``required``)."""

    def __repr__(self):
        return '<required parameter>'

    def __reduce__(self):
        return 'required'


required = _RequiredParameter()


class _Handle:
    """What ``register_*_hook`` returns: ``remove()`` unregisters the hook; also a context manager."""
    _ids = itertools.count()

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = next(_Handle._ids)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _add_hook(hooks, hook, prepend=False):
    handle = _Handle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


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


def _typename(obj):
    if isinstance(obj, Tensor):
        return {'float32': 'torch.FloatTensor', 'float64': 'torch.DoubleTensor', 'float16': 'torch.HalfTensor',
                'int64': 'torch.LongTensor', 'int32': 'torch.IntTensor'}.get(obj.dtype.name, 'torch.Tensor')
    return type(obj).__name__


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
        """Drop caches derived from the state layout (after load_state_dict and unpickling)."""
        self._packs = {}
        self._scratch = []

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


# ---- the engine -------------------------------------------------------------------------------------------------

class _Pack:
    """Small parameters of one group, dtype and device, whose state lives in flat buffers (``views`` are the
    per-parameter pieces, exposed as the state tensors) so one update covers them all."""
    __slots__ = ('members', 'shapes', 'flat', 'views', 'sflat', 'sviews', 'P', 'G', 'pviews', 'gflat')


class _ElementwiseOptimizer(Optimizer):
    """Optimizers whose update is elementwise per parameter. Subclasses give the math as ``_kernel`` on arrays;
    the engine runs it on each large parameter in place and once per group on its small parameters packed flat.

    Subclass interface:
      ``_scalar_names``: 0-d tensor state (e.g. 'step'), kept first in each parameter's state;
      ``_buffer_names(group)``: the array state the group's options need;
      ``_buffer_fill(name, group)``: a new buffer's value; ``_scalar_init(name)``: a new scalar's value;
      ``_hyper(group)``: the options the kernel reads, resolved once per step;
      ``_kernel(xp, hp, p, g, g_own, bufs, scal, fresh, tmp)``: update ``p`` and ``bufs`` in place from the
      gradient ``g`` (writable only if ``g_own``); ``scal`` are the scalar states before the step, ``fresh`` says the
      buffers were just created, ``tmp`` are ``_ntmp`` scratch arrays like ``p``; returns the new scalar states;
      ``_fused_step(hp, items)`` (optional): update a group's cuda parameters at once, ``items`` being
      (parameter, state, fresh, hp, names) tuples, with fused kernels (see ``_fused_mode``; SGD and Adam have it).
    """
    _scalar_names = ('step',)
    _ntmp = 2
    _small = 1 << 15  # parameters below this many elements are updated packed together

    def _buffer_names(self, group):
        raise NotImplementedError

    def _buffer_fill(self, name, group):
        return 0.0

    def _scalar_init(self, name):
        return 0.0

    def _hyper(self, group):
        return group

    def _kernel(self, xp, hp, p, g, g_own, bufs, scal, fresh, tmp):
        raise NotImplementedError

    def step(self, closure=None):
        """One update of every parameter that has a gradient; ``closure`` re-evaluates the loss (optional)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        work = []
        serial = False
        for group in self.param_groups:
            serial |= self._plan_group(group, work)
        _run(self, work, serial)
        return loss

    # -- planning (main thread): state created, packs validated; the updates themselves are independent items ----
    def _plan_group(self, group, work):
        """Append this group's update items to ``work``; True if they must run one after another."""
        hp = self._hyper(group)
        names = self._buffer_names(group)
        small = None
        limit = self._small if names else 0
        state = self.state
        stateful = bool(names or self._scalar_names)
        params = group['params']
        serial = False
        fz = None  # fused cuda kernels for this group: decided at its first parameter off the cpu
        fused = None
        for p in params:
            if p.grad is None:
                continue
            if stateful and p not in state:
                state[p] = {}  # state entries in parameter order, as PyTorch creates them
            if p._device is not cpu:
                serial = True
                if fz is None:
                    fz = self._fused_mode(group)
                    if fz and len({id(q) for q in params}) != len(params):
                        fz = 'one by one'  # a duplicated parameter is updated twice, in order
                if fz and _fused_device(p._device):
                    item = self._plan_direct(p, group, hp, names)
                    if fz == 'one by one':
                        work.append((item[0], 2, ([item[2]], hp, names)))
                    elif fused is None:
                        fused = [item[2]]
                    else:
                        fused.append(item[2])
                    continue
            d = p._data
            if d.size < limit:
                key = (d.dtype, p._device)
                if small is None:
                    small = {key: [p]}
                elif key in small:
                    small[key].append(p)
                else:
                    small[key] = [p]
            else:
                work.append(self._plan_direct(p, group, hp, names))
        if small:
            for key, members in small.items():
                if len(members) == 1:
                    work.append(self._plan_direct(members[0], group, hp, names))
                else:
                    self._plan_pack(group, key, members, hp, names, work)
        if fused:
            work.append((sum(it[0]._data.size for it in fused), 2, (fused, hp, names)))
        if len(params) > 1 and len({id(p) for p in params}) != len(params):
            serial = True  # a duplicated parameter is updated twice, in order
        return serial

    def _fused_mode(self, group):
        """Whether this group's parameters on cuda take the fused multi-tensor kernels (``_fused_step``): the
        optimizer has them, and the group's ``fused`` is True, or None with EMBER_CUDA_FUSED on (the default).
        ``fused=False`` keeps the generic CuPy path (the per-parameter ``_kernel``)."""
        cls = type(self)
        owner = next((c for c in cls.__mro__ if '_fused_step' in c.__dict__), None)
        if owner is None:
            return False
        for name in ('_kernel', '_hyper', '_buffer_names'):  # a subclass that changes the math: not fused
            if getattr(cls, name) is not getattr(owner, name):
                return False
        f = group.get('fused')
        if f is None:
            return _backends.CUDA_FUSED
        return bool(f)

    def _run_fused(self, item):
        """One fused update of a list of (parameter, state, fresh) items: one launch per dtype and device."""
        items, hp, names = item
        self._fused_step(hp, items)
        for it in items:
            it[0]._bump()

    def _init_state(self, p, st, group, names):
        """Create whatever state ``p`` lacks; True when all its buffers are new."""
        xp, d = p._device.xp, p._data
        for n in self._scalar_names:
            if n not in st:
                st[n] = _scalar_tensor(self._scalar_init(n))
        fresh = True
        for n in names:
            if n in st:
                fresh = False
            else:
                st[n] = _wrap(xp.full(d.shape, self._buffer_fill(n, group), d.dtype), p._device)
        return fresh

    def _plan_direct(self, p, group, hp, names, fresh=None):
        st = self.state.get(p)
        if fresh is None:
            fresh = False
            if not st or any(n not in st for n in names) or any(n not in st for n in self._scalar_names):
                if names or self._scalar_names:
                    st = self.state[p]
                    fresh = self._init_state(p, st, group, names)
                else:
                    st = {}  # stateless (e.g. SGD without momentum): nothing is recorded, as in PyTorch
        return (p._data.size, False, (p, st, fresh, hp, names))

    def _run_direct(self, item, scratch):
        p, st, fresh, hp, names = item
        d = p._data
        xp = p._device.xp
        tmp = scratch.get((d.dtype, xp, d.shape))
        if tmp is None:
            tmp = self._tmp(scratch, xp, d.dtype, d.shape, d.size)
        snames = self._scalar_names
        if snames:
            new = self._kernel(xp, hp, d, p.grad._data, False, [st[n]._data for n in names],
                               [float(st[n]._data) for n in snames], fresh, tmp)
            for n, v in zip(snames, new):
                st[n]._data[...] = v
        else:
            self._kernel(xp, hp, d, p.grad._data, False, [st[n]._data for n in names], (), fresh, tmp)
        p._bump()

    # -- scratch arrays, one set per worker thread ---------------------------------------------------------------
    def _scratch_for(self, worker):
        while len(self._scratch) <= worker:
            self._scratch.append({})
        return self._scratch[worker]

    def _tmp(self, scratch, xp, dtype, shape, size):
        key = (dtype, xp, shape)
        views = scratch.get(key)
        if views is None:
            k = self._ntmp
            base = scratch.get((dtype, xp))
            if base is None or base.size < size * k:
                base = xp.empty(size * k, dtype)
                for key_old in [kk for kk in scratch if kk[:2] == (dtype, xp)]:
                    del scratch[key_old]  # views into the older, smaller base go with it
                scratch[(dtype, xp)] = base
            views = tuple(base[i * size:(i + 1) * size].reshape(shape) for i in range(k))
            scratch[key] = views
        return views

    # -- small parameters packed flat ---------------------------------------------------------------------------
    def _pack_ok(self, pack, members, names):
        if len(members) != len(pack.members) or tuple(pack.flat) != names:
            return False
        state = self.state
        allnames = self._scalar_names + names
        views = [pack.sviews[n] for n in self._scalar_names] + [pack.views[n] for n in names]
        for i, p in enumerate(members):
            if p is not pack.members[i] or p._data.shape != pack.shapes[i]:
                return False
            st = state.get(p)
            if st is None:
                return False
            for n, vs in zip(allnames, views):
                t = st.get(n)
                if t is None or t._data is not vs[i]:
                    return False
        return True

    def _build_pack(self, group, members, names):
        """Move ``members``' state (created where missing) into fresh flat buffers; per-member freshness."""
        p0 = members[0]
        xp, dtype, dev = p0._device.xp, p0._data.dtype, p0._device
        pack = _Pack()
        pack.members = list(members)
        pack.shapes = [p._data.shape for p in members]
        sizes = [p._data.size for p in members]
        offs = list(itertools.accumulate(sizes, initial=0))
        n_total = offs[-1]

        def split(flat):
            return [flat[offs[i]:offs[i + 1]].reshape(pack.shapes[i]) for i in range(len(members))]
        pack.flat = {n: xp.empty(n_total, dtype) for n in names}
        pack.views = {n: split(f) for n, f in pack.flat.items()}
        sdt = _scalar_dtype().np
        pack.sflat = {n: cpu.xp.empty(len(members), sdt) for n in self._scalar_names}
        pack.sviews = {n: [f[i, ...] for i in range(len(members))] for n, f in pack.sflat.items()}
        pack.P = xp.empty(n_total, dtype)
        pack.G = xp.empty(n_total, dtype)
        pack.pviews = split(pack.P)
        fresh = []
        for i, p in enumerate(members):
            st = self.state[p]
            new_st = {}
            for n in self._scalar_names:
                old = st.get(n)
                pack.sviews[n][i][...] = float(old) if old is not None else self._scalar_init(n)
                new_st[n] = _wrap(pack.sviews[n][i], cpu)
            f = True
            for n in names:
                old = st.get(n)
                view = pack.views[n][i]
                if old is not None:
                    f = False
                    xp.copyto(view, old._data if isinstance(old, Tensor) else old, casting='unsafe')
                else:
                    view.fill(self._buffer_fill(n, group))
                new_st[n] = _wrap(view, dev)
            for k, v in st.items():  # keep any other entries, after ours
                if k not in new_st:
                    new_st[k] = v
            st.clear()
            st.update(new_st)
            fresh.append(f)
        return pack, fresh

    def _plan_pack(self, group, key, members, hp, names, work):
        ck = (id(group), key)
        pack = self._packs.get(ck)
        fresh = None
        if pack is None or not self._pack_ok(pack, members, names):
            if len({id(p) for p in members}) != len(members):  # duplicated parameters: one at a time
                work.extend(self._plan_direct(p, group, hp, names) for p in members)
                return
            pack, fresh = self._build_pack(group, members, names)
            self._packs[ck] = pack
        uniform = all(f == fresh[0] for f in fresh) if fresh is not None else True
        scal = []
        for n in self._scalar_names:
            arr = pack.sflat[n]
            v = arr[0]
            if uniform and arr.size > 1 and not (arr == v).all():
                uniform = False
            scal.append(float(v))
        if not uniform:  # members at different steps (or partly new): one at a time
            work.extend(self._plan_direct(p, group, hp, names, fresh=fresh[i] if fresh is not None else False)
                        for i, p in enumerate(members))
            return
        work.append((pack.P.size, True, (pack, hp, names, scal, fresh[0] if fresh is not None else False)))

    def _run_pack(self, item, scratch):
        pack, hp, names, scal, fresh = item
        members = pack.members
        xp = members[0]._device.xp
        P, G = pack.P, pack.G
        xp.concatenate([p._data.reshape(-1) for p in members], out=P)
        xp.concatenate([p.grad._data.reshape(-1) for p in members], out=G)
        tmp = self._tmp(scratch, xp, P.dtype, P.shape, P.size)
        new = self._kernel(xp, hp, P, G, True, [pack.flat[n] for n in names], scal, fresh, tmp)
        for n, v in zip(self._scalar_names, new):
            pack.sflat[n][...] = v
        for p, v in zip(members, pack.pviews):
            xp.copyto(p._data, v)
            p._bump()

    def _run_items(self, items, worker):
        scratch = self._scratch_for(worker)
        for _, kind, item in items:
            if kind == 2:
                self._run_fused(item)
            elif kind:
                self._run_pack(item, scratch)
            else:
                self._run_direct(item, scratch)


# ---- running update items on worker threads (NumPy releases the GIL inside its loops) ---------------------------

_PARALLEL_MIN = 1 << 17  # elements per step below which threads cost more than they save
_threads = {'n': None, 'pool': None, 'pid': None}


def set_num_threads(n):
    """Threads the optimizers' CPU updates may use (default: the CPUs this process may run on)."""
    _threads['n'] = max(1, int(n))


def get_num_threads():
    if _threads['n'] is None:
        try:
            _threads['n'] = len(os.sched_getaffinity(0))
        except AttributeError:
            _threads['n'] = os.cpu_count() or 1
    return _threads['n']


def _pool(n):
    pool = _threads['pool']
    if pool is None or _threads['pid'] != os.getpid() or pool._max_workers != n:
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix='ember-optim')
        _threads['pool'], _threads['pid'] = pool, os.getpid()
    return pool


def _run(opt, work, serial):
    """Run the update items, split over threads by size when there is enough work and all of it is on the CPU."""
    n = get_num_threads()
    if serial or n < 2 or len(work) < 2:
        opt._run_items(work, 0)
        return
    total = 0
    for w in work:
        total += w[0]
    if total < _PARALLEL_MIN:
        opt._run_items(work, 0)
        return
    n = min(n, len(work))
    bins = [[] for _ in range(n)]
    loads = [0] * n
    for w in sorted(work, key=lambda w: -w[0]):
        i = loads.index(min(loads))
        bins[i].append(w)
        loads[i] += w[0]
    opt._scratch_for(n - 1)
    pool = _pool(n - 1)
    futures = [pool.submit(opt._run_items, bins[i], i) for i in range(1, n)]
    try:
        opt._run_items(bins[0], 0)
    finally:
        for f in futures:
            f.result()


def _prep_grad(xp, g, p, g_own, maximize, weight_decay, out):
    """The gradient the update uses: negated for ``maximize``, plus ``weight_decay * p`` (L2), into ``g`` when
    owned or else ``out``."""
    if weight_decay:
        xp.multiply(p, weight_decay, out=out)
        if maximize:
            xp.subtract(out, g, out=out)
        else:
            xp.add(out, g, out=out)
        return out
    if maximize:
        dst = g if g_own else out
        xp.negative(g, out=dst)
        return dst
    return g


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


def _fused_device(dev):
    """Whether parameters on ``dev`` (not cpu) can take the fused kernels: the cuda device (a test may stand a
    NumPy-backed fake 'cuda' device in; the kernels then run their NumPy emulation)."""
    return dev.type == 'cuda'


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
