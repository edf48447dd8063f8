"""Point-to-point sends and receives: send, recv, isend, irecv, batch_isend_irecv."""
from . import _backend as B
from .distributed_c10d import _group, _root, _begin, _end
from ._work import Work, _run, _translate
from ._checks import _tensor
from ._collectives import _src, _stage, _finish_into

__all__ = ['send', 'recv', 'isend', 'irecv', 'P2POp', 'batch_isend_irecv']


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
