"""Array-level communication for ember.distributed: MPI through mpi4py, NCCL through CuPy, one-process stand-in."""
import os

# reduce ops by name; bool buffers get the logical equivalent (MPI defines no arithmetic on C_BOOL)
_BOOL_OPS = {'sum': 'lor', 'avg': 'lor', 'max': 'lor', 'bor': 'lor', 'product': 'land', 'min': 'land',
             'band': 'land', 'bxor': 'lxor'}


def launcher_env():
    """(rank, size) from the environment an MPI launcher (or ember run) sets, or None outside one."""
    pairs = (('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE'), ('PMI_RANK', 'PMI_SIZE'),
             ('PMIX_RANK', 'PMIX_SIZE'), ('MV2_COMM_WORLD_RANK', 'MV2_COMM_WORLD_SIZE'))
    for r, s in pairs:
        if r in os.environ:
            try:
                return int(os.environ[r]), int(os.environ.get(s, '0') or 0) or None
            except ValueError:
                continue
    if os.environ.get('EMBER_DISTRIBUTED_MPI') == '1':
        return None, None
    return None


def mpi_module():
    """mpi4py.MPI, or a RuntimeError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("ember.distributed needs mpi4py and an MPI library for more than one process: "
                           "pip install 'ember[distributed]'") from e
    return MPI


class DoneRequest:
    """A request that has already completed (one-process groups, NCCL when nothing is pending)."""
    __slots__ = ()

    def Wait(self, status=None):
        return None

    def Test(self, status=None):
        return True


class SelfBackend:
    """The group of one process: every collective is the identity (or a copy)."""
    rank, size, name = 0, 1, 'self'

    def __init__(self):
        self._mailbox = {}

    def _done(self, nb):
        return DoneRequest() if nb else None

    def allreduce(self, buf, op, nb=False):
        return self._done(nb)

    def bcast(self, buf, root, nb=False):
        return self._done(nb)

    def reduce(self, buf, op, root, nb=False):
        return self._done(nb)

    def allgather(self, send, recv, counts=None, nb=False):
        recv[...] = send.reshape(recv.shape)
        return self._done(nb)

    def gather(self, send, recv, root, nb=False):
        recv[...] = send.reshape(recv.shape)
        return self._done(nb)

    def scatter(self, send, recv, root, nb=False):
        recv[...] = send.reshape(recv.shape)
        return self._done(nb)

    def reduce_scatter(self, send, recv, op, counts=None, nb=False):
        recv[...] = send.reshape(recv.shape)
        return self._done(nb)

    def alltoall(self, send, scounts, recv, rcounts, nb=False):
        recv[...] = send.reshape(recv.shape)
        return self._done(nb)

    def send(self, buf, dst, tag, nb=False):
        self._mailbox.setdefault(tag, []).append(buf.copy())
        return self._done(nb)

    def recv(self, buf, src, tag, nb=False):
        box = self._mailbox.get(tag)
        if not box:
            raise RuntimeError('recv: a one-process group has no message waiting (send to self first)')
        buf[...] = box.pop(0).reshape(buf.shape)
        return (self._done(nb), 0) if nb else 0

    def barrier(self, nb=False):
        return self._done(nb)

    def allgather_obj(self, obj):
        return [obj]

    def bcast_obj(self, obj, root):
        return obj

    def gather_obj(self, obj, root):
        return [obj]

    def scatter_obj(self, objs, root):
        return objs[0]

    def dup(self):
        return SelfBackend()

    def subgroup(self, ranks):
        return SelfBackend() if 0 in ranks else None

    def local_rank_size(self):
        return 0, 1

    def free(self):
        pass


class MPIBackend:
    """Collectives on contiguous NumPy buffers through an mpi4py communicator; ``nb=True`` returns a request."""
    name = 'mpi'

    def __init__(self, comm):
        self.MPI = MPI = mpi_module()
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.ops = {'sum': MPI.SUM, 'avg': MPI.SUM, 'product': MPI.PROD, 'min': MPI.MIN, 'max': MPI.MAX,
                    'band': MPI.BAND, 'bor': MPI.BOR, 'bxor': MPI.BXOR, 'lor': MPI.LOR, 'land': MPI.LAND,
                    'lxor': MPI.LXOR}
        self._typecache = {}

    # ---- buffers ----------------------------------------------------------------------------------------------
    def _type(self, dtype):
        """The MPI datatype for a NumPy dtype, or None when this MPI has none (float16 on some builds)."""
        t = self._typecache.get(dtype, 0)
        if t == 0:
            try:
                t = self.MPI.Datatype.fromcode(dtype.char if dtype.kind != 'b' else '?')
                if t == self.MPI.DATATYPE_NULL:
                    t = None
            except (KeyError, ValueError, self.MPI.Exception):
                t = None
            self._typecache[dtype] = t
        return t

    def _spec(self, buf, count=None):
        t = self._type(buf.dtype)
        if t is None:  # no such MPI type: move the raw bytes (fine for copies, not for reductions)
            b = buf.view('u1')
            return [b, b.size if count is None else count * buf.itemsize, self.MPI.BYTE]
        return [buf, buf.size if count is None else count, t]

    def _op(self, buf, op):
        if buf.dtype.kind == 'b':
            op = _BOOL_OPS[op]
        return self.ops[op]

    def _reduce_via(self, buf, fn):
        """Run reduction ``fn(buffer)`` on a float32 copy when MPI has no type for buf's (float16 on old MPIs)."""
        if self._type(buf.dtype) is not None:
            return fn(buf)
        import numpy as np
        tmp = buf.astype(np.float32)
        fn(tmp)
        buf[...] = tmp
        return None

    # ---- collectives ------------------------------------------------------------------------------------------
    def allreduce(self, buf, op, nb=False):
        MPI, c, o = self.MPI, self.comm, self._op(buf, op)
        if nb and self._type(buf.dtype) is not None:
            return c.Iallreduce(MPI.IN_PLACE, self._spec(buf), o)
        self._reduce_via(buf, lambda b: c.Allreduce(MPI.IN_PLACE, self._spec(b), o))
        return DoneRequest() if nb else None

    def bcast(self, buf, root, nb=False):
        if nb:
            return self.comm.Ibcast(self._spec(buf), root)
        self.comm.Bcast(self._spec(buf), root)

    def reduce(self, buf, op, root, nb=False):
        MPI, c, o = self.MPI, self.comm, self._op(buf, op)
        mine = self.rank == root

        def run(b, nonblocking):
            if mine:
                args = (MPI.IN_PLACE, self._spec(b), o, root)
            else:
                args = (self._spec(b), None, o, root)
            return c.Ireduce(*args) if nonblocking else c.Reduce(*args)
        if nb and self._type(buf.dtype) is not None:
            return run(buf, True)
        self._reduce_via(buf, lambda b: run(b, False))
        return DoneRequest() if nb else None

    def allgather(self, send, recv, counts=None, nb=False):
        c = self.comm
        if counts is None:
            args = (self._spec(send), self._spec(recv, send.size))
            return c.Iallgather(*args) if nb else c.Allgather(*args)
        k = 1 if self._type(recv.dtype) is not None else recv.itemsize
        rv = self._spec(recv)
        args = (self._spec(send), [rv[0], [n * k for n in counts], rv[2]])
        return c.Iallgatherv(*args) if nb else c.Allgatherv(*args)

    def gather(self, send, recv, root, nb=False):
        args = (self._spec(send), self._spec(recv, send.size) if self.rank == root else None, root)
        return self.comm.Igather(*args) if nb else self.comm.Gather(*args)

    def scatter(self, send, recv, root, nb=False):
        args = (self._spec(send, recv.size) if self.rank == root else None, self._spec(recv), root)
        return self.comm.Iscatter(*args) if nb else self.comm.Scatter(*args)

    def reduce_scatter(self, send, recv, op, counts=None, nb=False):
        c, o = self.comm, self._op(send, op)
        if self._type(send.dtype) is None:
            import numpy as np
            r32 = recv.astype(np.float32)
            self.reduce_scatter(send.astype(np.float32), r32, op, counts)
            recv[...] = r32
            return DoneRequest() if nb else None
        if counts is None:  # mpi4py takes the per-rank block size as the send count
            args = (self._spec(send, recv.size), self._spec(recv), o)
            return c.Ireduce_scatter_block(*args) if nb else c.Reduce_scatter_block(*args)
        args = (self._spec(send), self._spec(recv), list(counts), o)
        return c.Ireduce_scatter(*args) if nb else c.Reduce_scatter(*args)

    def alltoall(self, send, scounts, recv, rcounts, nb=False):
        k = 1 if self._type(send.dtype) is not None else send.itemsize
        s, r = self._spec(send), self._spec(recv)
        args = ([s[0], [n * k for n in scounts], s[2]], [r[0], [n * k for n in rcounts], r[2]])
        return self.comm.Ialltoallv(*args) if nb else self.comm.Alltoallv(*args)

    def send(self, buf, dst, tag, nb=False):
        if nb:
            return self.comm.Isend(self._spec(buf), dst, tag)
        self.comm.Send(self._spec(buf), dst, tag)

    def recv(self, buf, src, tag, nb=False):
        MPI = self.MPI
        src = MPI.ANY_SOURCE if src is None else src
        if nb:
            return self.comm.Irecv(self._spec(buf), src, tag), None
        status = MPI.Status()
        self.comm.Recv(self._spec(buf), src, tag, status)
        return status.Get_source()

    def barrier(self, nb=False):
        if nb:
            return self.comm.Ibarrier()
        self.comm.Barrier()

    def allgather_obj(self, obj):
        return self.comm.allgather(obj)

    def bcast_obj(self, obj, root):
        return self.comm.bcast(obj, root)

    def gather_obj(self, obj, root):
        return self.comm.gather(obj, root)

    def scatter_obj(self, objs, root):
        return self.comm.scatter(objs, root)

    # ---- communicators ----------------------------------------------------------------------------------------
    def dup(self):
        return MPIBackend(self.comm.Dup())

    def subgroup(self, ranks):
        """A backend over the group ranks ``ranks`` (ascending) of this one; None on ranks outside it.

        Collective over the members only (MPI_Comm_create_group), as PyTorch lets non-members skip new_group's work.
        """
        if self.rank not in ranks:
            return None
        grp = self.comm.Get_group().Incl(list(ranks))
        try:
            comm = self.comm.Create_group(grp, tag=17)
        finally:
            grp.Free()
        return MPIBackend(comm)

    def local_rank_size(self):
        node = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED, key=self.rank)
        try:
            return node.Get_rank(), node.Get_size()
        finally:
            node.Free()

    def free(self):
        MPI = self.MPI
        if self.comm not in (MPI.COMM_WORLD, MPI.COMM_SELF, MPI.COMM_NULL) and not MPI.Is_finalized():
            self.comm.Free()


class EventRequest:
    """A NCCL operation queued on a CUDA stream: done when the event recorded after it has completed."""
    __slots__ = ('event',)

    def __init__(self, stream):
        import cupy
        self.event = cupy.cuda.Event(disable_timing=True)
        self.event.record(stream)

    def Wait(self, status=None):
        self.event.synchronize()

    def Test(self, status=None):
        return self.event.done


class NCCLBackend:
    """Collectives on CuPy arrays through NCCL (cupy.cuda.nccl), bootstrapped by an MPI communicator.

    Operations are queued on the current CUDA stream; ``nb=True`` returns a request that completes with them.
    """
    name = 'nccl'

    def __init__(self, mpi_backend):
        import cupy
        from cupy.cuda import nccl
        self.cupy, self.nccl = cupy, nccl
        self.rank, self.size = mpi_backend.rank, mpi_backend.size
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi_backend.bcast_obj(uid, 0)
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.types = {'float16': nccl.NCCL_FLOAT16, 'float32': nccl.NCCL_FLOAT32, 'float64': nccl.NCCL_FLOAT64,
                      'int8': nccl.NCCL_INT8, 'uint8': nccl.NCCL_UINT8, 'int32': nccl.NCCL_INT32,
                      'int64': nccl.NCCL_INT64, 'bool': nccl.NCCL_UINT8}
        self.ops = {'sum': nccl.NCCL_SUM, 'avg': nccl.NCCL_SUM, 'product': nccl.NCCL_PROD,
                    'min': nccl.NCCL_MIN, 'max': nccl.NCCL_MAX}

    @staticmethod
    def available():
        try:
            from cupy.cuda import nccl  # noqa: F401
            return nccl.available if hasattr(nccl, 'available') else True
        except Exception:
            return False

    def _t(self, buf):
        t = self.types.get(buf.dtype.name)
        if t is None:
            raise RuntimeError(f'the nccl backend does not support dtype {buf.dtype.name}')
        return t

    def _o(self, buf, op):
        if buf.dtype.kind == 'b':
            op = {'sum': 'max', 'avg': 'max', 'bor': 'max', 'max': 'max', 'product': 'min', 'band': 'min',
                  'min': 'min'}.get(op, op)
        o = self.ops.get(op)
        if o is None:
            raise RuntimeError(f'the nccl backend does not support reduce op {op.upper()}')
        return o

    def _stream(self):
        return self.cupy.cuda.get_current_stream()

    def _finish(self, nb, stream):
        return EventRequest(stream) if nb else None

    def allreduce(self, buf, op, nb=False):
        s = self._stream()
        self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._t(buf), self._o(buf, op), s.ptr)
        return self._finish(nb, s)

    def bcast(self, buf, root, nb=False):
        s = self._stream()
        self.comm.broadcast(buf.data.ptr, buf.data.ptr, buf.size, self._t(buf), root, s.ptr)
        return self._finish(nb, s)

    def reduce(self, buf, op, root, nb=False):
        s = self._stream()
        self.comm.reduce(buf.data.ptr, buf.data.ptr, buf.size, self._t(buf), self._o(buf, op), root, s.ptr)
        return self._finish(nb, s)

    def allgather(self, send, recv, counts=None, nb=False):
        s = self._stream()
        if counts is None:
            self.comm.allGather(send.data.ptr, recv.data.ptr, send.size, self._t(send), s.ptr)
        else:  # uneven: every rank broadcasts its part
            off = 0
            self.nccl.groupStart()
            for r, n in enumerate(counts):
                part = recv[off:off + n]
                src = send if r == self.rank else part
                self.comm.broadcast(src.data.ptr, part.data.ptr, n, self._t(send), r, s.ptr)
                off += n
            self.nccl.groupEnd()
        return self._finish(nb, s)

    def _p2p_many(self, sends, recvs, s):
        self.nccl.groupStart()
        for peer, buf in sends:
            self.comm.send(buf.data.ptr, buf.size, self._t(buf), peer, s.ptr)
        for peer, buf in recvs:
            self.comm.recv(buf.data.ptr, buf.size, self._t(buf), peer, s.ptr)
        self.nccl.groupEnd()

    def gather(self, send, recv, root, nb=False):
        s = self._stream()
        n = send.size
        recvs = [(r, recv[r * n:(r + 1) * n]) for r in range(self.size)] if self.rank == root else []
        self._p2p_many([(root, send)], recvs, s)
        return self._finish(nb, s)

    def scatter(self, send, recv, root, nb=False):
        s = self._stream()
        n = recv.size
        sends = [(r, send[r * n:(r + 1) * n]) for r in range(self.size)] if self.rank == root else []
        self._p2p_many(sends, [(root, recv)], s)
        return self._finish(nb, s)

    def reduce_scatter(self, send, recv, op, counts=None, nb=False):
        s = self._stream()
        if counts is not None and len(set(counts)) > 1:
            raise RuntimeError('the nccl backend needs equal parts for reduce_scatter')
        self.comm.reduceScatter(send.data.ptr, recv.data.ptr, recv.size, self._t(send), self._o(send, op), s.ptr)
        return self._finish(nb, s)

    def alltoall(self, send, scounts, recv, rcounts, nb=False):
        s = self._stream()
        so = [0]
        ro = [0]
        for a, b in zip(scounts, rcounts):
            so.append(so[-1] + a)
            ro.append(ro[-1] + b)
        self._p2p_many([(r, send[so[r]:so[r + 1]]) for r in range(self.size)],
                       [(r, recv[ro[r]:ro[r + 1]]) for r in range(self.size)], s)
        return self._finish(nb, s)

    def send(self, buf, dst, tag, nb=False):
        s = self._stream()
        self.comm.send(buf.data.ptr, buf.size, self._t(buf), dst, s.ptr)
        return self._finish(nb, s)

    def recv(self, buf, src, tag, nb=False):
        if src is None:
            raise RuntimeError('the nccl backend cannot receive from any source: pass src')
        s = self._stream()
        self.comm.recv(buf.data.ptr, buf.size, self._t(buf), src, s.ptr)
        return (self._finish(nb, s), src) if nb else src

    def free(self):
        try:
            self.comm.destroy()
        except Exception:
            pass
