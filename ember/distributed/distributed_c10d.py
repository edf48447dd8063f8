"""Process groups and collectives on tensors, with torch.distributed's API, over MPI (mpi4py) or NCCL (CuPy)."""
import atexit
import datetime
import os
import sys
import threading
import time

from . import _backend as B

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


# The calls live in modules by concern (imported last: they build on the groups above); this module keeps every name.
from ._work import Work, _Future, _Done, _NoWork, _translate, _run, _nonmember  # noqa: E402,F401
from ._checks import (_DTYPE_NAMES, _dtype_code, _desc, _call, _CODES, _NAMES, _verify, _tensor,  # noqa: E402,F401
                      _tensors, _root_list)
from ._collectives import *  # noqa: E402,F401,F403
from ._collectives import (_all_gather_base, _reduce_scatter_base, _stage, _src, _flat_out, _concat,  # noqa: E402,F401
                           _put, _divide, _finish_into)
from ._p2p import *  # noqa: E402,F401,F403
from ._p2p import _peer, _recv_error  # noqa: E402,F401
from ._objects import *  # noqa: E402,F401,F403
