"""DistributedDataParallel: one replica per rank; gradients averaged across ranks in buckets during backward."""
import contextlib
import weakref

from ..modules.module import Module

__all__ = ['DistributedDataParallel']

_FIRST_BUCKET_BYTES = 1024 * 1024  # a small first bucket gets communication going early, as PyTorch does


class _Bucket:
    """A flat buffer holding several parameters' gradients, all-reduced as one message."""
    __slots__ = ('index', 'params', 'views', 'buf', 'host', 'pending', 'req', 'backend', 'direct')

    def __init__(self, index, params, tensors, device, dtype, backend, direct, extra=0):
        self.index, self.params = index, params  # params: indices into DDP's parameter list
        self.buf = device.xp.zeros(sum(t._data.size for t in tensors) + extra, dtype)
        self.views, off = [], 0
        for t in tensors:
            n = t._data.size
            self.views.append(self.buf[off:off + n].reshape(t._data.shape))
            off += n
        self.backend, self.direct = backend, direct  # direct: the backend takes buf itself (else via host memory)
        self.host, self.pending, self.req = None, len(params), None


def _tensors_in(obj, out):
    from ..._tensor import Tensor
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors_in(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors_in(o, out)
    elif hasattr(obj, '__dataclass_fields__'):
        for name in obj.__dataclass_fields__:
            _tensors_in(getattr(obj, name, None), out)
    return out


class DistributedDataParallel(Module):
    """Data parallelism across the ranks of a process group, as torch.nn.parallel.DistributedDataParallel.

    At construction the parameters and buffers of rank 0 are broadcast to every rank (and the ranks are checked to
    hold the same parameter shapes). Each forward (with grad enabled) broadcasts the buffers from rank 0
    (``broadcast_buffers``) and counts how many gradient contributions every parameter will receive from the
    recorded graph. During backward a post-accumulate-grad hook on every parameter counts them down; when a
    parameter's gradient is final it is copied into its bucket, and as soon as a
    bucket is complete, and every bucket before it has been launched, a non-blocking all-reduce of the bucket
    starts, so communication overlaps the rest of backward. Buckets hold parameters in reverse registration order
    (the order backward usually produces them), about ``bucket_cap_mb`` MB each, the first one 1 MB.

    End of backward: a callback queued on the autograd engine's outermost backward pass launches the buckets not yet
    launched (parameters that got no gradient count as zero; a parameter unused on every rank keeps ``grad=None``),
    waits for all of them and writes the averages (sum / world size) into ``.grad`` (with
    ``gradient_as_bucket_view``, ``.grad`` becomes a view of the bucket and later backwards accumulate straight
    into it). A parameter that receives more gradient after it was counted complete (used outside this module's
    forward, or under reentrant checkpointing) is re-copied if its bucket has not been sent yet; otherwise all
    ranks agree to reduce that bucket again (flags ride in the last bucket, which is sent at the end of backward),
    so the result is always the average of the final gradients. ``no_sync()`` skips all of this (gradients accumulate locally; the next
    synchronised backward averages the accumulated sums). ``find_unused_parameters`` is accepted: ember always
    handles unused parameters.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None, init_sync=True):
        super().__init__()
        from ... import distributed as dist
        from ...distributed import distributed_c10d as c10d
        self.module = module
        self.device_ids, self.output_device, self.dim = device_ids, output_device, dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        pg = c10d._group(process_group)
        if pg is None:
            raise RuntimeError('DistributedDataParallel: this rank is not a member of the given process group')
        self.process_group = process_group if process_group is not None else dist.GroupMember.WORLD
        c10d._verify(pg, 'DistributedDataParallel', None)  # dup below is collective: a mismatch must not hang
        # a communicator of our own, so gradient traffic never interleaves with the user's collectives
        self._pg = c10d.ProcessGroup(pg._comm.dup(), pg._ranks, pg._backend, pg._want_nccl)
        self.world_size = pg.size()
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._index = {id(p): i for i, p in enumerate(self._params)}
        names = {id(p): n for n, p in module.named_parameters()}
        self._names = [names.get(id(p), f'param{i}') for i, p in enumerate(self._params)]
        devices = {p._device for p in module.parameters()}
        if len(devices) > 1:
            raise ValueError(f'DistributedDataParallel: the module\'s parameters are on several devices '
                             f'({sorted(map(str, devices))}); put the module on one device first')
        self._check_same_module()
        if init_sync:
            self._sync_params_and_buffers()
        self._build_buckets()
        self._reset()
        me = weakref.ref(self)
        self._handles = [p.register_post_accumulate_grad_hook(_make_hook(me, i, p))
                         for i, p in enumerate(self._params)]

    # ---- construction --------------------------------------------------------------------------------------------
    def _check_same_module(self):
        if self.world_size == 1:
            return
        mine = [(n, tuple(p.shape), p.dtype.name) for n, p in self.module.named_parameters()]
        mine += [(n, tuple(b.shape), b.dtype.name) for n, b in self.module.named_buffers()]
        every = self._pg._comm.allgather_obj(mine)
        ref = every[0]
        for r, got in enumerate(every):
            if got == ref:
                continue
            if len(got) != len(ref):
                raise RuntimeError(f'DistributedDataParallel expects the same module on every rank, but rank {r} has '
                                   f'{len(got)} parameters and buffers while rank 0 has {len(ref)}')
            for a, b in zip(ref, got):
                if a != b:
                    raise RuntimeError(f'DistributedDataParallel expects the same module on every rank, but rank 0 '
                                       f'has {a[0]} of shape {list(a[1])} ({a[2]}) where rank {r} has {b[0]} of '
                                       f'shape {list(b[1])} ({b[2]})')

    def _broadcast_coalesced(self, tensors):
        """Broadcast tensors from rank 0, one flat message per (device, dtype)."""
        if self.world_size == 1 or not tensors:
            return
        from ...distributed.distributed_c10d import _begin, _end
        groups = {}
        for t in tensors:
            groups.setdefault((t._device, t._data.dtype), []).append(t)
        for (device, dtype), ts in groups.items():
            xp = device.xp
            flat = xp.concatenate([t._data.reshape(-1) for t in ts]) if len(ts) > 1 else \
                xp.ascontiguousarray(ts[0]._data).reshape(-1).copy()
            be, direct = self._pg._for(ts[0])
            buf = flat if direct else flat.get()
            _begin('DistributedDataParallel broadcast')
            try:
                be.bcast(buf, 0)
            finally:
                _end()
            if not direct:
                flat = xp.asarray(buf)
            off = 0
            for t in ts:
                n = t._data.size
                xp.copyto(t._data, flat[off:off + n].reshape(t._data.shape))
                off += n

    def _sync_params_and_buffers(self):
        self._broadcast_coalesced([p for p in self.module.parameters()] + [b for b in self.module.buffers()])

    def _build_buckets(self):
        """Parameters in reverse registration order, split by (device, dtype) and size cap."""
        open_, done = {}, []
        limits = {}
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            key = (p._device, p._data.dtype)
            cur = open_.setdefault(key, [])
            cur.append(i)
            cap = limits.get(key, _FIRST_BUCKET_BYTES)
            if sum(self._params[j]._data.nbytes for j in cur) >= min(cap, self.bucket_bytes_cap):
                done.append((key, cur))
                open_[key] = []
                limits[key] = self.bucket_bytes_cap
        done += [(k, v) for k, v in open_.items() if v]
        done.sort(key=lambda kv: -kv[1][0])  # launch order: the bucket whose parameters come last goes first
        self._buckets = []
        self._where = [None] * len(self._params)
        for b_index, ((device, dtype), idx) in enumerate(done):
            backend, direct = self._pg._for(self._params[idx[0]])
            # the last bucket also carries, after the gradients, one flag per bucket (gradient came after it was
            # sent) and one per parameter (got a gradient): summed with the gradients, so no extra message
            extra = len(done) + len(self._params) if b_index == len(done) - 1 else 0
            b = _Bucket(b_index, idx, [self._params[j] for j in idx], device, dtype, backend, direct, extra)
            self._buckets.append(b)
            for pos, j in enumerate(idx):
                self._where[j] = (b, pos)

    # ---- per-iteration state --------------------------------------------------------------------------------------
    def _reset(self):
        n = len(self._params)
        self._armed = False        # a forward with grad sync has prepared a reduction
        self._started = False      # its backward has begun (the final callback is queued)
        self._counts = [0] * n     # gradient contributions still expected per parameter
        self._ready = [False] * n  # packed into its bucket
        self._used = [False] * n   # got a gradient during this backward
        self._late = [False] * len(self._buckets)  # got gradient after the bucket was packed
        self._seen = weakref.WeakSet()
        self._next = 0             # next bucket to launch
        for b in self._buckets:
            b.pending, b.req, b.host = len(b.params), None, None

    def _prepare(self, output):
        """Count, per parameter, the gradient contributions the graph behind ``output`` will deliver."""
        from ...autograd.graph import Node
        if not self._armed:
            self._reset()
            self._armed = True
        index, counts, seen = self._index, self._counts, self._seen
        stack = []
        for t in _tensors_in(output, []):
            if t.grad_fn is not None:
                if t.grad_fn not in seen:
                    seen.add(t.grad_fn)
                    stack.append(t.grad_fn)
            elif t.requires_grad and id(t) in index:
                counts[index[id(t)]] += 1
        while stack:
            node = stack.pop()
            for e in node.edges:
                if e is None:
                    continue
                target = e[0]
                if isinstance(target, Node):
                    if target not in seen:
                        seen.add(target)
                        stack.append(target)
                else:
                    i = index.get(id(target))
                    if i is not None:
                        counts[i] += 1

    # ---- backward -------------------------------------------------------------------------------------------------
    def _begin_backward(self):
        from ...autograd import engine
        self._started = True
        engine._callbacks[0].append(self._finalize)  # the outermost pass: a nested one (checkpointing) ends early
        for i, c in enumerate(self._counts):
            if c <= 0 and not self._ready[i]:  # not in the graph: nothing will come, count it now
                self._mark_ready(i)

    def _on_grad(self, i):
        if not self._started:
            self._begin_backward()
        self._used[i] = True
        if self._ready[i]:  # more gradient after the parameter was counted complete
            b, _ = self._where[i]
            if b.index >= self._next:
                self._pack(i)  # its bucket has not been sent yet: just take the new value
            elif self.gradient_as_bucket_view:
                raise RuntimeError(f'DistributedDataParallel: parameter {self._names[i]} received gradient after its '
                                   f'bucket was all-reduced (is it used outside the module\'s forward, or under '
                                   f'reentrant checkpointing?); this needs gradient_as_bucket_view=False')
            else:
                self._late[b.index] = True  # reduced again at the end of backward
            return
        self._counts[i] -= 1
        if self._counts[i] <= 0:
            self._mark_ready(i)
        self._progress()

    def _pack(self, i):
        """Copy parameter i's gradient into its bucket (nothing to do when the gradient is the bucket's view)."""
        p = self._params[i]
        b, pos = self._where[i]
        view = b.views[pos]
        g = p.grad
        if g is None:
            view.fill(0)
        elif g._data is not view:
            p._device.xp.copyto(view, g._data)

    def _mark_ready(self, i):
        self._ready[i] = True
        self._pack(i)
        b, _ = self._where[i]
        b.pending -= 1
        if b.pending == 0:
            self._launch_ready()

    def _launch_ready(self, final=False):
        bs = self._buckets
        last = len(bs) - 1  # sent by _finalize only, once the flags it carries are known
        while self._next < len(bs) and bs[self._next].pending == 0 and (final or self._next < last):
            self._launch(bs[self._next])
            self._next += 1

    def _launch(self, b):
        if b.direct:
            b.req = b.backend.allreduce(b.buf, 'sum', True)
        else:
            b.host = b.buf.get()
            b.req = b.backend.allreduce(b.host, 'sum', True)

    def _progress(self):
        """Let MPI move in-flight buckets along (its progress runs inside MPI calls)."""
        bs = self._buckets
        if self._next and bs[self._next - 1].req is not None:
            bs[self._next - 1].req.Test()

    def _wait(self, b):
        if b.req is not None:
            b.req.Wait()
            b.req = None
            if b.host is not None:
                b.buf[...] = _to_device(b.buf, b.host)
                b.host = None

    def _finalize(self):
        """End of backward: launch what is left, agree on late gradients, wait, write the averages to .grad."""
        from ...distributed.distributed_c10d import _begin, _end
        if not self._armed:
            return
        for i in range(len(self._params)):
            if not self._ready[i]:
                self._mark_ready(i)
        nb, n = len(self._buckets), len(self._params)
        last = self._buckets[-1]
        tail = last.buf[last.buf.size - nb - n:]
        tail[:nb] = self._late
        tail[nb:] = self._used
        self._launch_ready(final=True)
        _begin('DistributedDataParallel gradient all-reduce')
        try:
            for b in self._buckets:
                self._wait(b)
            flags = [float(f) > 0.5 for f in tail.tolist()]  # summed over the ranks: set anywhere
            for b in self._buckets:  # a bucket some rank packed too early: reduce it again from the final grads
                if flags[b.index]:
                    for j in b.params:
                        self._pack(j)
                    if b.direct:
                        b.backend.allreduce(b.buf, 'sum')
                    else:
                        host = b.buf.get()
                        b.backend.allreduce(host, 'sum')
                        b.buf[...] = _to_device(b.buf, host)
        finally:
            _end()
        from ..._tensor import _wrap
        n_ranks = self.world_size
        for b in self._buckets:  # sums -> averages, written into .grad (or .grad made the bucket's view)
            if self.gradient_as_bucket_view:
                b.buf /= n_ranks
            for pos, j in enumerate(b.params):
                p = self._params[j]
                view = b.views[pos]
                xp = p._device.xp
                if p.grad is None and not flags[nb + j]:
                    continue  # no rank produced a gradient: leave it None, as PyTorch does
                if self.gradient_as_bucket_view:
                    if p.grad is None or p.grad._data is not view:
                        p.grad = _wrap(view, p._device)
                elif p.grad is None:
                    p.grad = _wrap(xp.divide(view, n_ranks), p._device)
                else:
                    xp.divide(view, n_ranks, out=p.grad._data)
        self._reset()

    # ---- forward ----------------------------------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        from ...autograd.grad_mode import _State
        grad = _State.grad_enabled
        if self._started:  # a backward that raised never finished its reduction: start afresh
            self._drain()
        if grad and self.broadcast_buffers and self.world_size > 1:
            self._broadcast_coalesced(list(self.module.buffers()))
        out = self.module(*inputs, **kwargs)
        if grad and self.require_backward_grad_sync and self.world_size > 1 and self._params:
            self._prepare(out)
        return out

    def _drain(self):
        for b in self._buckets[:self._next]:
            self._wait(b)
        self._reset()

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, forward/backward accumulate gradients locally without communication; the first synchronised
        backward after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def _set_static_graph(self):
        self.static_graph = True

    def will_sync_module_buffers(self):
        return self.broadcast_buffers and any(True for _ in self.module.buffers()) and self.world_size > 1

    def register_comm_hook(self, state, hook):
        raise NotImplementedError('DistributedDataParallel.register_comm_hook is not supported by ember')

    @contextlib.contextmanager
    def join(self, divide_by_initial_world_size=True, enable=True, throw_on_early_termination=False):
        raise NotImplementedError('DistributedDataParallel.join (uneven inputs) is not supported by ember; give '
                                  'every rank the same number of batches (DistributedSampler does)')
        yield

    def __del__(self):
        for h in getattr(self, '_handles', ()):
            h.remove()
        pg = self.__dict__.get('_pg')
        if pg is not None:
            try:
                pg._free()
            except Exception:
                pass


def _to_device(like, host):
    """``host`` (NumPy) as an array of ``like``'s module."""
    import numpy as np
    if isinstance(like, np.ndarray):
        return host
    import cupy
    return cupy.asarray(host)


def _make_hook(ddp_ref, i, param):
    pref = weakref.ref(param)

    def hook(p):
        ddp = ddp_ref()
        if ddp is None or not ddp._armed or p is not pref():
            return  # a deep copy of the parameter, or a DDP that has been dropped
        ddp._on_grad(i)
    return hook
