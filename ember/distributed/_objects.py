"""Collectives on picklable Python objects: broadcast_object_list, all/gather_object, scatter_object_list."""
from .distributed_c10d import _group, _root, _begin, _end
from ._checks import _verify

__all__ = ['broadcast_object_list', 'all_gather_object', 'gather_object', 'scatter_object_list']


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
