"""Process groups and collectives on tensors, with torch.distributed's API, over MPI (mpi4py) or NCCL (CuPy)."""
import atexit
import datetime
import os
import sys
import threading
import time

import numpy as _np

from . import _backend as B
from .._tensor import Tensor as _Tensor

__all__ = ['Backend', 'ReduceOp', 'reduce_op', 'Work', 'ProcessGroup', 'GroupMember', 'group', 'P2POp',
           'is_available', 'is_initialized', 'is_mpi_available', 'is_nccl_available', 'is_gloo_available',
           'is_backend_available', 'is_torchelastic_launched', 'init_process_group', 'destroy_process_group',
           'get_rank', 'get_world_size', 'get_backend', 'get_node_local_rank', 'get_group_rank', 'get_global_rank',
           'get_process_group_ranks', 'new_group', 'barrier', 'monitored_barrier', 'all_reduce', 'broadcast',
           'reduce', 'all_gather', 'all_gather_into_tensor', 'gather', 'scatter', 'reduce_scatter',
           'reduce_scatter_tensor', 'all_to_all', 'all_to_all_single', 'send', 'recv', 'isend', 'irecv',
           'batch_isend_irecv', 'broadcast_object_list', 'all_gather_object', 'gather_object',
           'scatter_object_list']

_DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)


# ---- names: backends and reduce ops ------------------------------------------------------------------------------
class Backend(str):
    """A backend's name: ``Backend('MPI') == 'mpi'``. ember runs 'mpi' (and 'gloo', its alias) on every device
    and 'nccl' for CUDA tensors through CuPy's NCCL bindings."""
    UNDEFINED, GLOO, NCCL, MPI = 'undefined', 'gloo', 'nccl', 'mpi'

    def __new__(cls, name):
        if not isinstance(name, str):
            raise ValueError(f'Backend name must be a string, but got: {name!r}')
        return str.__new__(cls, name.lower())


class ReduceOp:
    """How a reduction combines the ranks' values: ``ReduceOp.SUM``, ``AVG``, ``PRODUCT``, ``MIN``, ``MAX``,
    ``BAND``, ``BOR``, ``BXOR``."""
    __slots__ = ('key', 'code')

    def __init__(self, key, code):
        self.key, self.code = key, code

    def __repr__(self):
        return f'<RedOpType.{self.key.upper()}: {self.code}>'

    def __eq__(self, other):
        return isinstance(other, ReduceOp) and other.key == self.key

    def __hash__(self):
        return hash(self.key)

    def __reduce__(self):
        return (getattr, (ReduceOp, self.key.upper()))


for _i, _k in enumerate(('sum', 'product', 'min', 'max', 'band', 'bor', 'bxor', 'avg')):
    setattr(ReduceOp, _k.upper(), ReduceOp(_k, _i))
ReduceOp.RedOpType = ReduceOp
reduce_op = ReduceOp


def _op(op):
    if isinstance(op, ReduceOp):
        return op
    if isinstance(op, str) and hasattr(ReduceOp, op.upper()):
        return getattr(ReduceOp, op.upper())
    raise ValueError(f'unknown reduce op {op!r}: use ember.distributed.ReduceOp.SUM, AVG, PRODUCT, MIN, MAX, BAND, '
                     f'BOR or BXOR')


# ---- state -------------------------------------------------------------------------------------------------------
class _State:
    world = None          # the default ProcessGroup
    groups = []           # every group made by new_group, freed with the world
    watchdog = None
    prev_excepthook = None
    local = (0, 1)        # (rank, size) among the processes on this machine
    checks = os.environ.get('EMBER_DISTRIBUTED_CHECKS', '1') != '0'
    exit_check = False    # _check_at_exit is registered


class GroupMember:
    """``GroupMember.WORLD`` is the default group once initialised; ``NON_GROUP_MEMBER`` stands for a group this
    process is not part of."""
    WORLD = None
    NON_GROUP_MEMBER = object()


group = GroupMember


class ProcessGroup:
    """A set of ranks that run collectives together (the world, or one made by ``new_group``)."""

    def __init__(self, comm, ranks, backend, want_nccl):
        self._comm = comm              # SelfBackend / MPIBackend over the members; None on non-members
        self._ranks = list(ranks)      # global ranks, in group-rank order
        self._backend = Backend(backend)
        self._want_nccl = want_nccl
        self._nccl = None

    def rank(self):
        return self._comm.rank if self._comm is not None else -1

    def size(self):
        return len(self._ranks)

    def name(self):
        return str(self._backend)

    def __repr__(self):
        return f'<ember.distributed.ProcessGroup backend={self._backend} ranks={self._ranks}>'

    def _for(self, tensor):
        """(backend, whether it takes the tensor's arrays directly) for a collective on ``tensor``."""
        if tensor._device.type == 'cpu' or isinstance(self._comm, B.SelfBackend):
            return self._comm, True
        if self._want_nccl:
            if self._nccl is None:
                self._nccl = B.NCCLBackend(self._comm)
            return self._nccl, True
        return self._comm, False  # MPI on CUDA tensors: stage through host memory

    def _free(self):
        if self._nccl is not None:
            self._nccl.free()
            self._nccl = None
        if self._comm is not None:
            self._comm.free()
            self._comm = None


def _world():
    if _State.world is None:
        raise ValueError('Default process group has not been initialized, please make sure to call '
                         'init_process_group.')
    return _State.world


def _group(group):
    """The ProcessGroup for a ``group=`` argument; None when this rank is not part of it."""
    pg = _world() if group is None or group is GroupMember.WORLD else group
    if pg is GroupMember.NON_GROUP_MEMBER or not isinstance(pg, ProcessGroup):
        if pg is GroupMember.NON_GROUP_MEMBER:
            return None
        raise TypeError(f'group must be a ProcessGroup made by ember.distributed.new_group, got {type(pg).__name__}')
    if _State.world is None:
        raise ValueError('the default process group was destroyed; call init_process_group again')
    return pg if pg._comm is not None else None


# ---- availability and identity -----------------------------------------------------------------------------------
def is_available():
    """True when mpi4py (and so an MPI library) can be imported: multi-process runs are possible."""
    try:
        import mpi4py  # noqa: F401
        return True
    except ImportError:
        return False


is_mpi_available = is_gloo_available = is_available


def is_nccl_available():
    return B.NCCLBackend.available()


def is_backend_available(backend):
    b = Backend(backend)
    return is_nccl_available() if b == 'nccl' else b in ('mpi', 'gloo') and is_available()


def is_torchelastic_launched():
    return False


def is_initialized():
    return _State.world is not None


def get_rank(group=None):
    """This process's rank in ``group`` (its global rank for the default group); -1 if not a member."""
    if group is None or group is GroupMember.WORLD:
        return _world().rank()
    pg = _group(group)
    return pg.rank() if pg is not None else -1


def get_world_size(group=None):
    """The number of ranks in ``group`` (the default group if None); -1 if this process is not a member."""
    if group is None or group is GroupMember.WORLD:
        return _world().size()
    pg = _group(group)
    return pg.size() if pg is not None else -1


def get_backend(group=None):
    pg = _world() if group is None or group is GroupMember.WORLD else group
    if not isinstance(pg, ProcessGroup):
        raise ValueError('Invalid process group specified')
    return pg._backend


def get_node_local_rank(fallback_rank=None):
    """This process's rank among the processes on its machine."""
    if 'LOCAL_RANK' in os.environ:
        return int(os.environ['LOCAL_RANK'])
    if _State.world is not None:
        return _State.local[0]
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError('LOCAL_RANK is not in the environment and no fallback_rank was given')


def get_process_group_ranks(group):
    pg = _world() if group is None or group is GroupMember.WORLD else group
    return list(pg._ranks)


def get_group_rank(group, global_rank):
    pg = _world() if group is None or group is GroupMember.WORLD else group
    try:
        return pg._ranks.index(global_rank)
    except ValueError:
        raise ValueError(f'Global rank {global_rank} is not part of group {pg}') from None


def get_global_rank(group, group_rank):
    pg = _world() if group is None or group is GroupMember.WORLD else group
    if not 0 <= group_rank < len(pg._ranks):
        raise ValueError(f'Group rank {group_rank} is not part of group {pg}')
    return pg._ranks[group_rank]


def _root(pg, rank, group_rank, what):
    """A group rank from a global ``rank`` or a ``group_rank`` argument."""
    if group_rank is not None:
        if not 0 <= group_rank < pg.size():
            raise ValueError(f'{what}: group rank {group_rank} is out of range for a group of {pg.size()}')
        return group_rank
    rank = 0 if rank is None else int(rank)
    if pg is _State.world:
        if not 0 <= rank < pg.size():
            raise ValueError(f'{what}: rank {rank} is out of range for a world of {pg.size()} ranks')
        return rank
    return get_group_rank(pg, rank)


# ---- failure handling: uncaught exceptions abort every rank, a watchdog bounds blocking waits -----------------------
def _abort(code=1):
    """Abort every rank of the MPI job (and exit this one even if MPI cannot)."""
    time.sleep(0.5)  # let mpiexec forward this rank's last output before Abort tears every rank down
    try:
        from mpi4py import MPI
        if MPI.Is_initialized() and not MPI.Is_finalized():
            MPI.COMM_WORLD.Abort(code)
    finally:
        os._exit(code)


def _abort_failed(rank, size, what, code=1):
    """Say which rank failed and with what, then abort all ``size`` ranks (``ember run``'s worker uses it too)."""
    sys.stderr.write(f'ember.distributed: rank {rank} failed with {what}\n'
                     f'ember.distributed: aborting all {size} ranks\n')
    sys.stderr.flush()
    _abort(code)


def _excepthook(tp, value, tb):
    prev = _State.prev_excepthook or sys.__excepthook__
    try:
        prev(tp, value, tb)
    finally:
        w = _State.world
        if w is not None and w.size() > 1:
            _abort_failed(w.rank(), w.size(), f'{tp.__name__}: {value}')


class _Watchdog(threading.Thread):
    """Aborts the job when one blocking collective or wait() takes longer than the group's timeout (a rank that
    skipped it, hung, or died in a way MPI does not notice), naming the operation and the rank."""

    def __init__(self, timeout, rank):
        super().__init__(name='ember-distributed-watchdog', daemon=True)
        self.timeout, self.rank = timeout, rank
        self.busy = None
        self.stop = threading.Event()

    def run(self):
        tick = min(1.0, max(0.05, self.timeout / 10))
        while not self.stop.wait(tick):
            busy = self.busy
            if busy is not None and time.monotonic() - busy[1] > self.timeout:
                sys.stderr.write(f'ember.distributed: rank {self.rank}: {busy[0]} did not finish within the '
                                 f'timeout of {datetime.timedelta(seconds=self.timeout)} (another rank may have '
                                 f'failed, hung, or skipped this collective); aborting all ranks\n')
                sys.stderr.flush()
                _abort(1)


def _check_at_exit():
    """The end of the script takes part in the per-call check: a rank that finishes while another still waits in a
    collective (one called it once more) makes both fail with a message instead of hanging."""
    w = _State.world
    if w is None or w._comm is None or w.size() == 1 or not _State.checks:
        return
    try:
        _verify(w, 'exit', None)
    except RuntimeError as e:
        _abort_failed(w.rank(), w.size(), f'RuntimeError: {e}')


def _begin(name):
    w = _State.watchdog
    if w is not None:
        w.busy = (name, time.monotonic())


def _end():
    w = _State.watchdog
    if w is not None:
        w.busy = None


# ---- init and teardown -------------------------------------------------------------------------------------------
def _parse_backend(backend, is_default=True):
    """(name to report, whether CUDA tensors use NCCL) from init_process_group's ``backend``."""
    if backend is None:
        return Backend('mpi'), False
    name = str(backend).lower()
    parts = {}
    for item in name.split(','):
        dev, _, be = item.rpartition(':')
        parts[dev or '*'] = be
    for be in parts.values():
        if be not in ('mpi', 'gloo', 'nccl'):
            raise ValueError(f"ember.distributed supports the backends 'mpi', 'gloo' (an alias of mpi) and 'nccl' "
                             f"(CUDA tensors through CuPy); got {backend!r}")
    want_nccl = 'nccl' in parts.values()
    if want_nccl and not is_nccl_available():
        raise RuntimeError("backend 'nccl' needs CuPy with NCCL (pip install 'ember[cuda]'); use 'mpi' instead")
    return Backend(name if len(parts) > 1 else next(iter(parts.values()))), want_nccl


def _seconds(timeout):
    if timeout is None:
        return _DEFAULT_TIMEOUT.total_seconds()
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name='', pg_options=None, device_id=None):
    """Join the default process group.

    Ranks come from MPI: start the processes with ``ember run -n N script.py`` or ``mpiexec -n N python
    script.py`` (on one machine or many). Without a launcher the group is this one process (world size 1, every
    collective the identity), for debugging. ``init_method``, ``store`` and ``pg_options`` are accepted and unused
    (MPI's launcher wires the ranks together); ``world_size`` and ``rank``, if given, must agree with MPI's.
    ``timeout`` bounds every blocking collective and ``wait()``: past it the job is aborted with a message.
    """
    if _State.world is not None:
        raise RuntimeError('trying to initialize the default process group twice!')
    name, want_nccl = _parse_backend(backend)
    env = B.launcher_env()
    mpi_up = 'mpi4py.MPI' in sys.modules and sys.modules['mpi4py.MPI'].Is_initialized()
    if env is not None or mpi_up:
        MPI = B.mpi_module()
        comm = B.MPIBackend(MPI.COMM_WORLD.Dup())
    else:
        want = world_size if world_size not in (None, -1) else int(os.environ.get('WORLD_SIZE', '1') or 1)
        if want > 1:
            raise RuntimeError(f'init_process_group: world_size {want} was asked for, but this process was not '
                               f'started by an MPI launcher; start every rank with `ember run -n {want} script.py` '
                               f"or `mpiexec -n {want} python script.py` (pip install 'ember[distributed]')")
        comm = B.SelfBackend()
    if world_size not in (None, -1) and int(world_size) != comm.size:
        raise ValueError(f'init_process_group: world_size={world_size} was passed, but the MPI launcher started '
                         f'{comm.size} processes')
    if rank not in (None, -1) and int(rank) != comm.rank:
        raise ValueError(f'init_process_group: rank={rank} was passed, but MPI gave this process rank {comm.rank} '
                         f'(the launcher decides ranks)')
    _State.local = comm.local_rank_size()
    world = ProcessGroup(comm, range(comm.size), name, want_nccl)
    _State.world = GroupMember.WORLD = world
    if isinstance(comm, B.MPIBackend):  # MPI's numbering is the truth; torchrun-style scripts read these
        os.environ.update(RANK=str(comm.rank), WORLD_SIZE=str(comm.size), LOCAL_RANK=str(_State.local[0]),
                          LOCAL_WORLD_SIZE=str(_State.local[1]))
    if comm.size > 1:
        _State.prev_excepthook = sys.excepthook
        sys.excepthook = _excepthook
        _State.watchdog = _Watchdog(_seconds(timeout), comm.rank)
        _State.watchdog.start()
        if not _State.exit_check:
            _State.exit_check = True
            atexit.register(_check_at_exit)
    return None


def destroy_process_group(group=None):
    """Free ``group``'s communicator; with no argument, every group and the default one (init can follow)."""
    if group is not None and group is not GroupMember.WORLD and group is not _State.world:
        if isinstance(group, ProcessGroup):
            group._free()
            if group in _State.groups:
                _State.groups.remove(group)
        return
    if _State.world is None:
        raise ValueError('Default process group has not been initialized, please make sure to call '
                         'init_process_group.')
    for g in _State.groups:
        g._free()
    _State.groups = []
    _State.world._free()
    _State.world = GroupMember.WORLD = None
    if _State.watchdog is not None:
        _State.watchdog.stop.set()
        _State.watchdog = None
    if sys.excepthook is _excepthook:
        sys.excepthook = _State.prev_excepthook or sys.__excepthook__
    _State.prev_excepthook = None


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None, device_id=None):
    """A group of the given global ranks (all of them if None). Every rank may call it (as PyTorch asks); only
    the members communicate. On other ranks the result stands for 'not a member': collectives on it do nothing."""
    world = _world()
    ranks = sorted(set(range(world.size()) if ranks is None else (int(r) for r in ranks)))
    for r in ranks:
        if not 0 <= r < world.size():
            raise ValueError(f'new_group: rank {r} is out of range for a world of {world.size()} ranks')
    name, want_nccl = (world._backend, world._want_nccl) if backend is None else _parse_backend(backend)
    comm = world._comm.subgroup(ranks)
    pg = ProcessGroup(comm, ranks, name, want_nccl)
    _State.groups.append(pg)
    return pg if comm is not None else GroupMember.NON_GROUP_MEMBER


# ---- work handles --------------------------------------------------------------------------------------------------
class _Future:
    """The completion of a Work, as torch.futures.Future: ``wait()``, ``value()``, ``done()``, ``then(fn)``."""

    def __init__(self, work):
        self._work = work

    def wait(self):
        self._work.wait()
        return self._work.result()

    value = wait

    def done(self):
        return self._work.is_completed()

    def then(self, callback):
        self.wait()
        out = _Done(callback(self))
        return out

    def add_done_callback(self, callback):
        self.wait()
        callback(self)


class _Done:
    def __init__(self, value):
        self._value = value

    def wait(self):
        return self._value

    value = wait

    def done(self):
        return True


class Work:
    """A collective started with ``async_op=True``: ``wait()`` blocks until it has finished (the output tensors
    then hold the result), ``is_completed()`` tests without blocking."""

    def __init__(self, name, requests, finish=None, result=None, source=None):
        self._name, self._reqs, self._finish, self._result = name, list(requests), finish, result
        self._done, self._exc, self._source = False, None, source

    def _complete(self):
        self._done = True
        self._reqs = []
        if self._finish is not None:
            fn, self._finish = self._finish, None
            try:
                fn()
            except Exception as e:
                self._exc = e
                raise

    def is_completed(self):
        if not self._done:
            try:
                if all(r.Test() for r in self._reqs):
                    self._complete()
            except Exception as e:
                raise _translate(e, self._name) from None
        return self._done

    def wait(self, timeout=None):
        if self._done:
            return True
        try:
            if timeout is not None:
                deadline = time.monotonic() + _seconds(timeout)
                while not all(r.Test() for r in self._reqs):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f'{self._name}: wait() timed out after {timeout}')
                    time.sleep(0.0002)
            else:
                _begin(self._name)
                try:
                    for r in self._reqs:
                        r.Wait()
                finally:
                    _end()
        except RuntimeError:
            raise
        except Exception as e:
            raise _translate(e, self._name) from None
        self._complete()
        return True

    synchronize = wait

    def is_success(self):
        return self._done and self._exc is None

    def exception(self):
        return self._exc

    def result(self):
        self.wait()
        return list(self._result or [])

    def source_rank(self):
        self.wait()
        if self._source is None:
            raise RuntimeError('source_rank() is only available on the work of a recv')
        return self._source() if callable(self._source) else self._source

    def get_future(self):
        return _Future(self)


class _NoWork(Work):
    def __init__(self):
        super().__init__('noop', [])
        self._done = True


def _translate(e, name):
    if isinstance(e, RuntimeError):
        return e
    return RuntimeError(f'ember.distributed.{name}: {type(e).__name__}: {e}')


def _run(name, start, finish, async_op, result=None, source=None):
    """Start a collective (``start(nonblocking)``), then finish it now or hand back a Work that will."""
    try:
        if async_op:
            return Work(name, [start(True)], finish, result, source)
        _begin(name)
        try:
            start(False)
        finally:
            _end()
    except (ValueError, TypeError, RuntimeError):
        raise
    except Exception as e:
        raise _translate(e, name) from None
    if finish is not None:
        finish()
    return None


def _nonmember(async_op):
    return _NoWork() if async_op else None


# ---- argument checks -------------------------------------------------------------------------------------------
_DTYPE_NAMES = {}


def _dtype_code(dt):
    num = dt.num
    if num not in _DTYPE_NAMES:
        _DTYPE_NAMES[num] = dt.name
    return num


def _desc(row):
    """'float32 [4, 3]' from a row of gathered metadata."""
    ndim = int(row[3])
    dims = [int(d) for d in row[5:5 + min(ndim, 6)]]
    shape = ', '.join(map(str, dims)) + (', ...' if ndim > 6 else '')
    return f'{_DTYPE_NAMES.get(int(row[2]), "dtype#" + str(row[2]))} [{shape}]'


def _call(row):
    """'all_reduce(float32 [4, 3])' or 'barrier()': the call a rank made, from its row of gathered metadata."""
    name = _NAMES.get(int(row[0]), f'collective #{int(row[0])}')
    if name == 'exit':
        return 'the end of its script'
    return f'{name}({_desc(row) if row[1] >= 0 else ""})'


# fixed numbers (the same in every process) for the collectives the check names
_CODES = {name: i + 1 for i, name in enumerate((
    'barrier', 'all_reduce', 'broadcast', 'reduce', 'all_gather', 'all_gather_into_tensor', 'gather', 'scatter',
    'reduce_scatter', 'reduce_scatter_tensor', 'all_to_all', 'all_to_all_single', 'broadcast_object_list',
    'all_gather_object', 'gather_object', 'scatter_object_list', 'DistributedDataParallel', 'exit'))}
_NAMES = {v: k for k, v in _CODES.items()}
for _name in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'bool', 'complex64',
              'complex128', 'uint16', 'uint32', 'uint64'):
    _dtype_code(_np.dtype(_name))


def _verify(pg, name, t, arg=-1, match='numel'):
    """Gather every rank's (collective, element count, dtype, shape, argument) and raise the same clear error on
    every rank when they disagree; returns the gathered rows (None when checks are off or the group is one rank).

    ``match``: 'numel' (same element count and dtype everywhere), 'dtype' (same dtype), or None.
    Costs one small allgather; set EMBER_DISTRIBUTED_CHECKS=0 to skip it.
    """
    n = pg.size()
    if n == 1 or not _State.checks:
        return None
    code = _CODES[name]
    if t is not None:
        a = t._data
        shape = a.shape
        dims = shape[:6] + (-1,) * (6 - min(len(shape), 6))
        row = _np.array((code, a.size, _dtype_code(a.dtype), len(shape), arg) + dims, _np.int64)
    else:
        row = _np.array((code, -1, -1, -1, arg) + (-1,) * 6, _np.int64)
    rows = _np.empty((n, 11), _np.int64)
    _begin(name)
    try:
        pg._comm.allgather(row, rows)
    except Exception as e:  # matched with a call that skipped the check (checks off on some rank, or p2p)
        last = (str(e).strip().splitlines() or [''])[-1]
        raise RuntimeError(f'ember.distributed.{name}: the per-call check failed ({type(e).__name__}: {last}); the '
                           f'ranks probably called different collectives, or EMBER_DISTRIBUTED_CHECKS differs between '
                           f'them') from None
    finally:
        _end()
    if (rows == row).all():  # the common case: every rank made the same call
        return rows
    if (rows[:, 0] != code).any():
        calls = ', '.join(f'rank {pg._ranks[i]}: {_call(r)}' for i, r in enumerate(rows))
        raise RuntimeError(f'ember.distributed: the ranks of a group called different collectives ({calls}); '
                           f'every rank must make the same collective calls in the same order')
    if t is not None and match is not None:
        cols = [2] if match == 'dtype' else [1, 2]
        if (rows[:, cols] != rows[0, cols]).any():
            per = ', '.join(f'rank {pg._ranks[i]}: {_desc(r)}' for i, r in enumerate(rows))
            need = 'the same dtype' if match == 'dtype' else 'the same number of elements and the same dtype'
            raise RuntimeError(f'ember.distributed.{name}: the tensors differ across ranks ({per}); every rank '
                               f'must pass {need}')
    if (rows[:, 4] != rows[0, 4]).any():
        per = ', '.join(f'rank {pg._ranks[i]}: {int(a)}' for i, a in enumerate(rows[:, 4]))
        raise RuntimeError(f'ember.distributed.{name}: the ranks disagree on the root rank or reduce op ({per})')
    return rows


def _tensor(t, name, arg='tensor'):
    if not isinstance(t, _Tensor):
        raise TypeError(f"ember.distributed.{name}(): argument '{arg}' must be an ember Tensor, not "
                        f"{type(t).__name__}")
    return t


def _tensors(ts, name, arg, n=None, like=None):
    if not isinstance(ts, (list, tuple)):
        raise TypeError(f"ember.distributed.{name}(): argument '{arg}' must be a list of tensors, not "
                        f"{type(ts).__name__}")
    for t in ts:
        _tensor(t, name, arg)
        if like is not None and t._data.dtype != like._data.dtype:
            raise RuntimeError(f'ember.distributed.{name}(): {arg} holds a {t.dtype} tensor but the input is '
                               f'{like.dtype}; all tensors must have the same dtype')
    if n is not None and len(ts) != n:
        raise RuntimeError(f'ember.distributed.{name}(): {arg} has {len(ts)} tensors; it needs one per rank ({n})')
    return ts


def _root_list(ts, name, arg, tensor, n, mine, role):
    """Check gather's / scatter's list: on the root (``mine``) one tensor per rank, each of ``tensor``'s dtype and
    element count; elsewhere none."""
    if not mine:
        if ts:
            raise ValueError(f'ember.distributed.{name}: {arg} must be given on the {role} rank only')
        return
    _tensors(ts, name, arg, n, like=tensor)
    for i, t in enumerate(ts):
        if t._data.size != tensor._data.size:
            raise RuntimeError(f'ember.distributed.{name}: {arg}[{i}] is {list(t.shape)} but tensor is '
                               f'{list(tensor.shape)}; they must have the same number of elements')


# ---- buffers -------------------------------------------------------------------------------------------------------
def _stage(t, direct):
    """A contiguous array the backend can fill in place for tensor t, and a function writing it back (or None)."""
    arr = t._data
    if not direct:  # CUDA tensor, MPI backend: through host memory
        host = _np.ascontiguousarray(arr.get())
        return host, lambda: t._device.xp.copyto(arr, t._device.xp.asarray(host))
    if arr.flags.c_contiguous and arr.flags.writeable:
        return arr, None
    buf = t._device.xp.ascontiguousarray(arr)
    return buf, lambda: t._device.xp.copyto(arr, buf.reshape(arr.shape))


def _src(t, direct):
    """A contiguous array holding tensor t's values, for sending."""
    arr = t._data
    if not direct:
        return _np.ascontiguousarray(arr.get())
    return t._device.xp.ascontiguousarray(arr)


def _flat_out(xp_like, n, dtype, direct):
    xp = xp_like._device.xp if direct else _np
    return xp.empty(n, dtype)


def _concat(ts, direct):
    xp = ts[0]._device.xp if direct else _np
    if not ts:
        return xp.empty(0)
    return xp.concatenate([_src(t, direct).reshape(-1) for t in ts])


def _put(parts_flat, outs):
    """Copy consecutive pieces of a flat array into tensors ``outs`` (bumping their versions)."""
    off = 0
    for o in outs:
        n = o._data.size
        piece = parts_flat[off:off + n].reshape(o._data.shape)
        if o._device.type != 'cpu' and isinstance(piece, _np.ndarray):
            piece = o._device.xp.asarray(piece)
        o._device.xp.copyto(o._data, piece)
        o._bump()
        off += n


def _divide(buf, n):
    if n == 1:
        return
    if buf.dtype.kind == 'f':
        buf /= n
    elif buf.dtype.kind in 'iu':
        buf //= n


def _finish_into(tensor, buf, back, average_over=None):
    """The last step of a collective that wrote ``tensor`` through ``buf`` (a staged copy when ``back`` is set):
    divide for ReduceOp.AVG (``average_over`` ranks), copy back, and bump the version."""
    def finish():
        if average_over is not None:
            _divide(buf, average_over)
        if back is not None:
            back()
        tensor._bump()
    return finish


# ---- collectives ----------------------------------------------------------------------------------------------------
def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of the group has reached this call."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _verify(pg, 'barrier', None)
    return _run('barrier', lambda nb: pg._comm.barrier(nb), None, async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    pg = _group(group)
    if pg is None:
        return None
    if timeout is None:
        return barrier(group)
    w = barrier(group, async_op=True)
    w.wait(timeout)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across the ranks with ``op``; every rank ends with the result, in place."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    op = _op(op)
    _tensor(tensor, 'all_reduce')
    be, direct = pg._for(tensor)
    _verify(pg, 'all_reduce', tensor, op.code)
    buf, back = _stage(tensor, direct)
    finish = _finish_into(tensor, buf, back, pg.size() if op.key == 'avg' else None)
    return _run('all_reduce', lambda nb: be.allreduce(buf, op.key, nb), finish, async_op, [tensor])


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank of the group."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(tensor, 'broadcast')
    root = _root(pg, src, group_src, 'broadcast')
    be, direct = pg._for(tensor)
    _verify(pg, 'broadcast', tensor, root)
    buf, back = _stage(tensor, direct)
    finish = _finish_into(tensor, buf, back)
    return _run('broadcast', lambda nb: be.bcast(buf, root, nb), finish, async_op, [tensor])


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce ``tensor`` across the ranks into rank ``dst``'s ``tensor`` (the others' are left as they were)."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    op = _op(op)
    _tensor(tensor, 'reduce')
    root = _root(pg, dst, group_dst, 'reduce')
    be, direct = pg._for(tensor)
    _verify(pg, 'reduce', tensor, root * 16 + op.code)
    mine = pg.rank() == root
    buf, back = _stage(tensor, direct) if mine else (_src(tensor, direct), None)
    finish = _finish_into(tensor, buf, back, pg.size() if op.key == 'avg' else None) if mine else None
    return _run('reduce', lambda nb: be.reduce(buf, op.key, root, nb), finish, async_op, [tensor])


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[i]`` with rank i's ``tensor`` on every rank (sizes may differ between ranks)."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(tensor, 'all_gather')
    n = pg.size()
    _tensors(tensor_list, 'all_gather', 'tensor_list', n, like=tensor)
    counts = [t._data.size for t in tensor_list]
    be, direct = pg._for(tensor)
    rows = _verify(pg, 'all_gather', tensor, match='dtype')
    if rows is not None:
        bad = [i for i in range(n) if rows[i, 1] != counts[i]]
        if bad:
            per = ', '.join(f'rank {pg._ranks[i]} sent {_desc(rows[i])} but tensor_list[{i}] is '
                            f'{list(tensor_list[i].shape)}' for i in bad)
            raise RuntimeError(f'ember.distributed.all_gather: the sizes do not match ({per})')
    if counts[pg.rank()] != tensor._data.size:
        raise RuntimeError(f'ember.distributed.all_gather: tensor has {tensor._data.size} elements but '
                           f'tensor_list[{pg.rank()}] (this rank\'s slot) has {counts[pg.rank()]}')
    send = _src(tensor, direct).reshape(-1)
    recv = _flat_out(tensor, sum(counts), tensor._data.dtype, direct)
    even = all(c == send.size for c in counts)
    return _run('all_gather', lambda nb: be.allgather(send, recv, None if even else counts, nb),
                lambda: _put(recv, tensor_list), async_op, tensor_list)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Concatenate (or stack) every rank's ``input_tensor`` into ``output_tensor`` (world_size times larger)."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(output_tensor, 'all_gather_into_tensor', 'output_tensor')
    _tensor(input_tensor, 'all_gather_into_tensor', 'input_tensor')
    n = pg.size()
    if output_tensor._data.size != n * input_tensor._data.size or output_tensor.dtype != input_tensor.dtype:
        raise RuntimeError(f'ember.distributed.all_gather_into_tensor: output_tensor ({list(output_tensor.shape)} '
                           f'{output_tensor.dtype}) must hold world_size={n} times input_tensor '
                           f'({list(input_tensor.shape)} {input_tensor.dtype})')
    be, direct = pg._for(input_tensor)
    _verify(pg, 'all_gather_into_tensor', input_tensor)
    send = _src(input_tensor, direct).reshape(-1)
    out, back = _stage(output_tensor, direct)
    flat = out.reshape(-1)
    finish = _finish_into(output_tensor, out, back)
    return _run('all_gather_into_tensor', lambda nb: be.allgather(send, flat, None, nb), finish, async_op,
                [output_tensor])


_all_gather_base = all_gather_into_tensor


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Collect every rank's ``tensor`` into ``gather_list`` on rank ``dst``."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(tensor, 'gather')
    root = _root(pg, dst, group_dst, 'gather')
    n = pg.size()
    mine = pg.rank() == root
    _root_list(gather_list, 'gather', 'gather_list', tensor, n, mine, 'destination')
    be, direct = pg._for(tensor)
    _verify(pg, 'gather', tensor, root)
    send = _src(tensor, direct).reshape(-1)
    recv = _flat_out(tensor, n * send.size, tensor._data.dtype, direct) if mine else None
    finish = (lambda: _put(recv, gather_list)) if mine else None
    return _run('gather', lambda nb: be.gather(send, recv, root, nb), finish, async_op, gather_list)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank ``src`` sends ``scatter_list[i]`` to rank i, which receives it into ``tensor``."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(tensor, 'scatter')
    root = _root(pg, src, group_src, 'scatter')
    n = pg.size()
    mine = pg.rank() == root
    be, direct = pg._for(tensor)
    _root_list(scatter_list, 'scatter', 'scatter_list', tensor, n, mine, 'source')
    _verify(pg, 'scatter', tensor, root)
    send = _concat(scatter_list, direct) if mine else None
    buf, back = _stage(tensor, direct)
    finish = _finish_into(tensor, buf, back)
    return _run('scatter', lambda nb: be.scatter(send, buf.reshape(-1), root, nb), finish, async_op, [tensor])


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input_list[i]`` across the ranks into rank i's ``output``."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    op = _op(op)
    _tensor(output, 'reduce_scatter', 'output')
    n = pg.size()
    _tensors(input_list, 'reduce_scatter', 'input_list', n, like=output)
    counts = [t._data.size for t in input_list]
    if counts[pg.rank()] != output._data.size:
        raise RuntimeError(f'ember.distributed.reduce_scatter: output is {list(output.shape)} but '
                           f'input_list[{pg.rank()}] (this rank\'s part) is {list(input_list[pg.rank()].shape)}')
    be, direct = pg._for(output)
    _verify(pg, 'reduce_scatter', output, op.code, match='dtype')
    send = _concat(input_list, direct)
    buf, back = _stage(output, direct)
    even = len(set(counts)) == 1
    finish = _finish_into(output, buf, back, n if op.key == 'avg' else None)
    return _run('reduce_scatter', lambda nb: be.reduce_scatter(send, buf.reshape(-1), op.key,
                                                                None if even else counts, nb),
                finish, async_op, [output])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` (world_size parts) across the ranks; rank i's ``output`` gets part i."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    op = _op(op)
    _tensor(output, 'reduce_scatter_tensor', 'output')
    _tensor(input, 'reduce_scatter_tensor', 'input')
    n = pg.size()
    if input._data.size != n * output._data.size or input.dtype != output.dtype:
        raise RuntimeError(f'ember.distributed.reduce_scatter_tensor: input ({list(input.shape)} {input.dtype}) '
                           f'must hold world_size={n} times output ({list(output.shape)} {output.dtype})')
    be, direct = pg._for(output)
    _verify(pg, 'reduce_scatter_tensor', output, op.code)
    send = _src(input, direct).reshape(-1)
    buf, back = _stage(output, direct)
    finish = _finish_into(output, buf, back, n if op.key == 'avg' else None)
    return _run('reduce_scatter_tensor', lambda nb: be.reduce_scatter(send, buf.reshape(-1), op.key, None, nb),
                finish, async_op, [output])


_reduce_scatter_base = reduce_scatter_tensor


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Rank i sends ``input_tensor_list[j]`` to rank j, which receives it into ``output_tensor_list[i]``."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    n = pg.size()
    _tensors(input_tensor_list, 'all_to_all', 'input_tensor_list', n)
    _tensors(output_tensor_list, 'all_to_all', 'output_tensor_list', n, like=input_tensor_list[0])
    first = input_tensor_list[0]
    be, direct = pg._for(first)
    _verify(pg, 'all_to_all', first, match='dtype')
    send = _concat(input_tensor_list, direct)
    scounts = [t._data.size for t in input_tensor_list]
    rcounts = [t._data.size for t in output_tensor_list]
    recv = _flat_out(first, sum(rcounts), first._data.dtype, direct)
    return _run('all_to_all', lambda nb: be.alltoall(send, scounts, recv, rcounts, nb),
                lambda: _put(recv, output_tensor_list), async_op, output_tensor_list)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None, async_op=False):
    """all_to_all on one tensor split along dim 0 (evenly, or by the given split sizes)."""
    pg = _group(group)
    if pg is None:
        return _nonmember(async_op)
    _tensor(output, 'all_to_all_single', 'output')
    _tensor(input, 'all_to_all_single', 'input')
    n = pg.size()

    def counts(t, splits, what):
        rows = t.shape[0] if t.ndim else 1
        per_row = t._data.size // rows if rows else 0
        if splits is None:
            if rows % n:
                raise RuntimeError(f'ember.distributed.all_to_all_single: {what} has {rows} rows, which do not '
                                   f'split evenly over {n} ranks; pass {what}_split_sizes')
            splits = [rows // n] * n
        splits = [int(s) for s in splits]
        if len(splits) != n or sum(splits) != rows:
            raise RuntimeError(f'ember.distributed.all_to_all_single: {what}_split_sizes {splits} must have {n} '
                               f'entries summing to {rows}')
        return [s * per_row for s in splits]
    sc = counts(input, input_split_sizes, 'input')
    rc = counts(output, output_split_sizes, 'output')
    be, direct = pg._for(input)
    _verify(pg, 'all_to_all_single', input, match='dtype')
    send = _src(input, direct).reshape(-1)
    buf, back = _stage(output, direct)
    finish = _finish_into(output, buf, back)
    return _run('all_to_all_single', lambda nb: be.alltoall(send, sc, buf.reshape(-1), rc, nb), finish, async_op,
                [output])


# ---- point to point ----------------------------------------------------------------------------------------------
def _peer(pg, rank, group_rank, what):
    r = _root(pg, rank, group_rank, what)
    return r


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Send ``tensor`` to rank ``dst`` (blocks until it can be reused)."""
    pg = _group(group)
    if pg is None:
        return None
    _tensor(tensor, 'send')
    peer = _peer(pg, dst, group_dst, 'send')
    be, direct = pg._for(tensor)
    buf = _src(tensor, direct)
    _run('send', lambda nb: be.send(buf, peer, tag, nb), None, False)


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receive into ``tensor`` from rank ``src`` (any rank if None); returns the sender's rank."""
    pg = _group(group)
    if pg is None:
        return -1
    _tensor(tensor, 'recv')
    peer = None if src is None and group_src is None else _peer(pg, src, group_src, 'recv')
    be, direct = pg._for(tensor)
    buf, back = _stage(tensor, direct)
    _begin('recv')
    try:
        got = be.recv(buf, peer, tag, False)
    except Exception as e:
        raise _recv_error(e, tensor) from None
    finally:
        _end()
    if back is not None:
        back()
    tensor._bump()
    return pg._ranks[got] if got is not None and got >= 0 else got


def _recv_error(e, tensor):
    if 'TRUNCATE' in str(e).upper() or 'truncat' in str(e):
        return RuntimeError(f'ember.distributed.recv: the message is larger than the receiving tensor '
                            f'({list(tensor.shape)} {tensor.dtype}, {tensor.numel()} elements)')
    return _translate(e, 'recv')


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Start sending ``tensor`` to rank ``dst``; returns a Work (do not modify the tensor until it completes)."""
    pg = _group(group)
    if pg is None:
        return None
    _tensor(tensor, 'isend')
    peer = _peer(pg, dst, group_dst, 'isend')
    be, direct = pg._for(tensor)
    buf = _src(tensor, direct)
    return Work('isend', [be.send(buf, peer, tag, True)], result=[tensor])


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Start receiving into ``tensor`` from rank ``src`` (any if None); returns a Work."""
    pg = _group(group)
    if pg is None:
        return None
    _tensor(tensor, 'irecv')
    peer = None if src is None and group_src is None else _peer(pg, src, group_src, 'irecv')
    be, direct = pg._for(tensor)
    buf, back = _stage(tensor, direct)
    status = None
    if isinstance(be, B.MPIBackend):
        status = be.MPI.Status()
    req, _ = be.recv(buf, peer, tag, True)
    if status is not None:
        mpi_req = req

        class _StatusReq:  # keep the status of the completed receive for source_rank()
            def Wait(self, s=None):
                mpi_req.Wait(status)

            def Test(self, s=None):
                return mpi_req.Test(status)
        req = _StatusReq()

    finish = _finish_into(tensor, buf, back)

    def source():
        if status is None:
            return pg._ranks[peer] if peer is not None else pg._ranks[0]
        return pg._ranks[status.Get_source()]
    return Work('irecv', [req], finish, [tensor], source)


class P2POp:
    """One send or receive for ``batch_isend_irecv``: ``P2POp(dist.isend, tensor, peer)``."""

    def __init__(self, op, tensor, peer=None, group=None, tag=0, group_peer=None):
        if op not in (isend, irecv):
            raise ValueError('P2POp: op must be ember.distributed.isend or ember.distributed.irecv')
        self.op, self.tensor, self.peer, self.group, self.tag, self.group_peer = op, tensor, peer, group, tag, \
            group_peer


def batch_isend_irecv(p2p_op_list):
    """Start every send and receive of the list; returns their Works."""
    works = []
    for p in p2p_op_list:
        if p.op is isend:
            works.append(isend(p.tensor, p.peer, p.group, p.tag, group_dst=p.group_peer))
        else:
            works.append(irecv(p.tensor, p.peer, p.group, p.tag, group_src=p.group_peer))
    return works


# ---- Python objects ----------------------------------------------------------------------------------------------
def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    pg = _group(group)
    if pg is None:
        return None
    root = _root(pg, src, group_src, 'broadcast_object_list')
    _verify(pg, 'broadcast_object_list', None, root)
    _begin('broadcast_object_list')
    try:
        got = pg._comm.bcast_obj(list(object_list) if pg.rank() == root else None, root)
    finally:
        _end()
    object_list[:] = got


def all_gather_object(object_list, obj, group=None):
    pg = _group(group)
    if pg is None:
        return None
    _verify(pg, 'all_gather_object', None)
    _begin('all_gather_object')
    try:
        got = pg._comm.allgather_obj(obj)
    finally:
        _end()
    if len(object_list) != len(got):
        object_list[:] = [None] * len(got)
    object_list[:] = got


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    pg = _group(group)
    if pg is None:
        return None
    root = _root(pg, dst, group_dst, 'gather_object')
    _verify(pg, 'gather_object', None, root)
    _begin('gather_object')
    try:
        got = pg._comm.gather_obj(obj, root)
    finally:
        _end()
    if pg.rank() == root:
        if object_gather_list is None:
            raise ValueError('gather_object: object_gather_list must be given on the destination rank')
        object_gather_list[:] = got


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None, group=None,
                        group_src=None):
    pg = _group(group)
    if pg is None:
        return None
    root = _root(pg, src, group_src, 'scatter_object_list')
    if pg.rank() == root and (scatter_object_input_list is None or len(scatter_object_input_list) != pg.size()):
        raise ValueError(f'scatter_object_list: the source rank needs a list of {pg.size()} objects')
    _verify(pg, 'scatter_object_list', None, root)
    _begin('scatter_object_list')
    try:
        got = pg._comm.scatter_obj(list(scatter_object_input_list) if pg.rank() == root else None, root)
    finally:
        _end()
    if len(scatter_object_output_list) < 1:
        scatter_object_output_list.append(None)
    scatter_object_output_list[0] = got
