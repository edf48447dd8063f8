"""The update engine of elementwise optimizers: per-parameter kernels run in place, small parameters packed flat."""
import itertools
import operator

from .._tensor import Tensor, _wrap
from .. import backends as _backends
from ..backends import cpu
from ..autograd.grad_mode import enable_grad
from .optimizer import Optimizer, _scalar_dtype, _scalar_tensor
from ._threads import run_items as _run


class _Pack:
    """Small parameters of one group, dtype and device, whose state lives in flat buffers (``views`` are the
    per-parameter pieces, exposed as the state tensors) so one update covers them all."""
    __slots__ = ('members', 'shapes', 'flat', 'views', 'sflat', 'sviews', 'P', 'G', 'pviews', 'gflat', 'states',
                 'checks')


class _ElementwiseOptimizer(Optimizer):
    """Optimizers whose update is elementwise per parameter. The math is stated once, readably, as the module's
    ``update(p, g, state, group)`` (see _math.py); the subclass gives the same math in place as ``_kernel``, which
    the engine runs on each large parameter in place and once per group on its small parameters packed flat, the
    items shared among worker threads (_threads.py). tests/test_optim_reference.py pins ``_kernel`` to ``update``.

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
    _block = 1 << 17  # cpu updates of parameters of twice this many elements or more run in slices this long

    def _engine_reset(self):
        """Drop the packs and scratch memory, which follow the state's layout (after load_state_dict, unpickling)."""
        self._packs = {}
        self._scratch = []
        self._thread_choice = None  # one thread or several, learned from step times (_threads.py)

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
        if not serial:
            work = self._blocked(work)
        _run(self, work, serial)
        return loss

    def _blocked(self, work):
        """``work`` with each large cpu parameter's update cut into slices of ``_block`` elements: a kernel makes
        several passes (2 for SGD, about 10 for Adam), and on a slice the second and later passes find the data
        and the scratch arrays still in cache instead of going back to memory."""
        blk = self._block
        if not blk or all(w[0] < 2 * blk for w in work):
            return work
        out = []
        for w in work:
            if w[0] >= 2 * blk and w[1] is False and w[2][0]._device is cpu:
                pieces = self._split(w, -(-w[0] // blk))
                if pieces is not None:
                    out.extend(pieces)
                    continue
            out.append(w)
        return out

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
        light_limit = 0 if stateful else self._small  # stateless small cpu parameters: one batch item
        light, light_size = [], 0
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
                if fz and _fused_device(p._device) and p._data.dtype.kind != 'c':
                    item = self._plan_direct(p, group, hp, names)
                    if fz == 'one by one':
                        work.append((item[0], 2, ([item[2]], hp, names)))
                    elif fused is None:
                        fused = [item[2]]
                    else:
                        fused.append(item[2])
                    continue
            d = p._data
            if light_limit and d.size < light_limit and d.dtype.kind != 'c' and p._device is cpu:
                light.append((p, d, p.grad._data))  # stateless: updated in one loop, no state to look up
                light_size += d.size
                continue
            if d.size < limit and d.dtype.kind != 'c':  # (complex parameters: one by one, as real pairs)
                key = d.dtype if p._device is cpu else (d.dtype, p._device)  # (a device hashes in Python)
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
        if light:
            work.append((light_size, 3, (hp, light)))
        if len(params) > 1 and len({id(p) for p in params}) != len(params):
            serial = True  # a duplicated parameter is updated twice, in order
        if group.get('capturable') and any(p.grad is not None and p._device is cpu for p in params):
            what = 'params, mu_products and state_steps' if 'mu_product' in self._scalar_names else \
                'params and state_steps'
            raise AssertionError(f'If capturable=True, {what} must be on supported devices: '
                                 "['cuda', 'xpu', 'hpu', 'privateuseone', 'xla'].")
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
        d, g, bufs = p._data, p.grad._data, [st[n]._data for n in names] if names else ()
        if d.dtype.kind == 'c':  # PyTorch updates a complex parameter as its (real, imag) pairs (view_as_real)
            d, g, bufs = _pairs(d), _pairs(g), [_pairs(b) for b in bufs]
        xp = p._device.xp
        tmp = scratch.get((d.dtype, xp, d.shape))
        if tmp is None:
            tmp = self._tmp(scratch, xp, d.dtype, d.shape, d.size)
        snames = self._scalar_names
        if snames:
            new = self._kernel(xp, hp, d, g, False, bufs, [float(st[n]._data) for n in snames], fresh, tmp)
            for n, v in zip(snames, new):
                st[n]._data[...] = v
        else:
            self._kernel(xp, hp, d, g, False, bufs, (), fresh, tmp)
        p._bump()

    def _split(self, item, parts):
        """A direct update of a large parameter as ``parts`` items on flat slices, for worker threads to share
        (the update is elementwise); None where it is not one (complex, non-contiguous). The scalar state is read
        now, so every slice starts from the same step, and written by the first slice only."""
        size, kind, it = item
        if kind is not False:
            return None
        p, st, fresh, hp, names = it
        arrs = [p._data, p.grad._data] + [st[n]._data for n in names]
        if arrs[0].dtype.kind == 'c' or not all(a.flags.c_contiguous for a in arrs):
            return None
        scal = [float(st[n]._data) for n in self._scalar_names]
        flat = [a.reshape(-1) for a in arrs]
        step = -(-size // parts)
        return [(min(step, size - lo), 4, (p, st, fresh, hp, names, [a[lo:lo + step] for a in flat], scal, lo == 0))
                for lo in range(0, size, step)]

    def _run_slice(self, item, scratch):
        p, st, fresh, hp, names, arrs, scal, first = item
        d = arrs[0]
        xp = p._device.xp
        tmp = self._tmp(scratch, xp, d.dtype, d.shape, d.size)
        new = self._kernel(xp, hp, d, arrs[1], False, arrs[2:], scal, fresh, tmp)
        if first:
            for n, v in zip(self._scalar_names, new):
                st[n]._data[...] = v
            p._bump()

    def _run_light(self, item, scratch):
        """A stateless group's small cpu parameters, one after another in one loop: what ``_run_direct`` does,
        without its per-parameter state and dtype handling (none applies: no state, no complex numbers)."""
        hp, entries = item
        kernel, xp, get = self._kernel, cpu.xp, scratch.get
        for p, d, g in entries:
            tmp = get((d.dtype, xp, d.shape))
            if tmp is None:
                tmp = self._tmp(scratch, xp, d.dtype, d.shape, d.size)
            kernel(xp, hp, d, g, False, (), (), False, tmp)
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
        """Whether ``pack`` still holds exactly ``members``' state: same parameters and shapes, and each state entry
        the pack's own tensor over the pack's own view (the checks run in C, ``map`` over the members)."""
        if len(members) != len(pack.members) or tuple(pack.flat) != names:
            return False
        if not all(map(_is, members, pack.members)) or list(map(_shape, members)) != pack.shapes:
            return False
        sts = list(map(self.state.get, members))
        if not all(map(_is, sts, pack.states)):  # (so every entry of sts is a dict)
            return False
        for n, ts, vs in pack.checks:
            if not all(map(_is, map(operator.methodcaller('get', n), sts), ts)) or \
                    not all(map(_is, map(_data, ts), vs)):
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
        pack.states = [self.state[p] for p in members]
        pack.checks = [(n, [st[n] for st in pack.states], vs) for n, vs in
                       itertools.chain(((n, pack.sviews[n]) for n in self._scalar_names),
                                       ((n, pack.views[n]) for n in names))]
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
        xp.concatenate(list(map(_data, members)), axis=None, out=P)  # (axis None: each flattened, in C)
        xp.concatenate(list(map(_grad_data, members)), axis=None, out=G)
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
            if kind == 3:
                self._run_light(item, scratch)
            elif kind == 4:
                self._run_slice(item, scratch)
            elif kind == 2:
                self._run_fused(item)
            elif kind:
                self._run_pack(item, scratch)
            else:
                self._run_direct(item, scratch)


_is = operator.is_
_shape = operator.attrgetter('_data.shape')
_data = operator.attrgetter('_data')
_grad_data = operator.attrgetter('grad._data')


def _fused_device(dev):
    """Whether parameters on ``dev`` (not cpu) can take the fused kernels: the cuda device (a test may stand a
    NumPy-backed fake 'cuda' device in; the kernels then run their NumPy emulation)."""
    return dev.type == 'cuda'


def _pairs(x):
    """A complex array's memory as (..., 2) reals: its real and imaginary parts, updated in place."""
    return x[..., None].view(x.real.dtype)
