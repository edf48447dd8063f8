"""ember's pickle format: a zip of a pickle and the raw bytes of its arrays, for objects JSON cannot express."""
import io
import math
import pickle
import zipfile

import numpy as _np

from ._common import SerializationError, _as_ints, _check_shape, _placer, _raw_array_dtype, _read_member, _tensor_types
from . import _atomic
from ._restricted import (
    _NpArrayBuilder, _NpDtype, _RestrictedUnpickler, _TypeMarker, _device_global, _dtype_by_name, _dunder,
    _np_reconstruct, _refused, _user_global, _value_globals)

DEFAULT_PROTOCOL = 2  # PyTorch's constant; ember pickles with protocol 4 unless save() is given pickle_protocol
_PICKLE_PROTOCOL = 4
_ZIP_PREFIX = 'ember/'
_ZIP_MARKER = _ZIP_PREFIX + 'ember_format'
_ZIP_MAGIC = b'ember-pickle 1\n'
_ARRAY_PID = 'ember.ndarray'


def _rebuild_pickled_tensor(cls, array, device, requires_grad, state):
    """What a tensor in ember's pickle format unpickles through (the loaders substitute a map_location-aware one)."""
    return _make_tensor(cls, array, device, requires_grad, state, _placer(None))


_rebuild_pickled_tensor.__module__ = 'ember.serialization'  # the name files store (and loaders allow)


def _make_tensor(cls, array, device, requires_grad, state, place):
    from .._dtype import _FROM_NP
    from .._tensor import Tensor, _wrap
    from ..backends import cpu
    if isinstance(cls, _TypeMarker):
        cls = cls.resolve()
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise pickle.UnpicklingError(f'ember.load: a tensor rebuild names {cls!r:.100}, which is not a tensor class')
    if not isinstance(array, _np.ndarray) or array.dtype.newbyteorder('=') not in _FROM_NP:
        raise SerializationError(f'ember.load: corrupt file: a tensor rebuild got '
                                 f'{getattr(array, "dtype", type(array).__name__)!s:.60} instead of an array of a '
                                 f'dtype ember supports')
    if not isinstance(device, str) or type(requires_grad) is not bool or not (state is None or (
            isinstance(state, dict) and all(type(k) is str and not _dunder(k) for k in state))):
        # (a dunder name in an instance's dict would stand in for a method that copy and pickle look up there)
        raise SerializationError('ember.load: corrupt file: bad tensor rebuild arguments')
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder('='))
    t = place(_wrap(array, cpu), device)
    requires_grad = requires_grad and t.is_floating_point()
    if cls is not Tensor:
        from ..nn.parameter import Parameter, _share_into
        out = Tensor.__new__(cls)
        _share_into(out, t)
        if issubclass(cls, Parameter):
            Parameter.__init__(out, t, requires_grad)
        elif requires_grad:
            out.requires_grad_(True)
        t = out
    elif requires_grad:
        t.requires_grad_(True)
    if state:
        t.__dict__.update(state)
    return t


class _Pickler(pickle.Pickler):
    """Pickles with every tensor reduced to (class, array, device, requires_grad, attributes) and every number or bool
    NumPy array sent out by persistent id, so the pickle holds structure and the archive holds the bytes."""

    def __init__(self, fh, protocol):
        super().__init__(fh, protocol)
        self.Tensor, Parameter = _tensor_types()
        # tensor classes whose pickling is ember's default; subclasses with their own __reduce_ex__ (sparse) keep it
        self.default_reduce = {self.Tensor.__reduce_ex__} | ({Parameter.__reduce_ex__} if Parameter else set())
        self.arrays = []  # [array, (pid)], in key order; kept alive so that ids stay unique while pickling
        self.keys = {}  # id(array) -> index in self.arrays

    def persistent_id(self, obj):
        if type(obj) is not _np.ndarray or not _raw_array_dtype(obj.dtype):
            return None
        i = self.keys.get(id(obj))
        if i is None:
            i = self.keys[id(obj)] = len(self.arrays)
            order = 'F' if obj.ndim > 1 and obj.flags.f_contiguous and not obj.flags.c_contiguous else 'C'
            self.arrays.append((obj, (_ARRAY_PID, str(i), obj.dtype.str, tuple(int(n) for n in obj.shape), order)))
        return self.arrays[i][1]

    def reducer_override(self, obj):
        if isinstance(obj, self.Tensor) and type(obj).__reduce_ex__ in self.default_reduce:
            if obj._device.type == 'cpu' and type(obj._data) is _np.ndarray:
                arr = obj._data
            else:
                arr = obj.numpy(force=True)
            # the user's attributes; not '_view', the autograd link of a view to its base (the bytes are saved)
            state = {k: v for k, v in obj.__dict__.items() if k != '_view'} or None
            return _rebuild_pickled_tensor, (type(obj), arr, str(obj._device), bool(obj._rg), state)
        return NotImplemented


def _zip_info(name, size=0):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size
    return info


def _pickle_archive(obj, protocol):
    """A writer for the zip archive of ``obj`` pickled (see the comment at the top)."""
    buf = io.BytesIO()
    pickler = _Pickler(buf, protocol)
    pickler.dump(obj)
    pkl, arrays = buf.getvalue(), pickler.arrays

    def writer(fh):
        with zipfile.ZipFile(fh, 'w', zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(_zip_info(_ZIP_MARKER), _ZIP_MAGIC)
            zf.writestr(_zip_info(_ZIP_PREFIX + 'data.pkl'), pkl)
            for arr, pid in arrays:
                mem = _np.asarray(arr, order='C') if pid[4] == 'C' else arr.T  # .T of an F-ordered array: C-ordered
                with zf.open(_zip_info(f'{_ZIP_PREFIX}data/{pid[1]}', arr.nbytes), 'w') as member:
                    _atomic._write_array(member, mem)
    return writer


def _rebuild_sparse_checked(indices, values, shape, coalesced, requires_grad):
    """ember.sparse._rebuild_sparse for a restricted unpickler: the arguments are checked first."""
    from .._tensor import Tensor
    from ..sparse import _rebuild_sparse
    if not (isinstance(indices, Tensor) and isinstance(values, Tensor) and type(coalesced) is bool
            and type(requires_grad) is bool):
        raise SerializationError('ember.load: corrupt file: bad sparse tensor arguments')
    shape = _as_ints(shape, 'sparse shape')
    idx = indices.numpy(force=True)
    sparse_dims = idx.shape[0] if idx.ndim == 2 else -1
    if (idx.dtype.kind not in 'iu' or sparse_dims < 0 or sparse_dims > len(shape) or values.dim() < 1
            or values.shape[0] != idx.shape[1] or tuple(values.shape[1:]) != shape[sparse_dims:]
            or any(s < 0 for s in shape)
            or (idx.size and (idx.min() < 0 or (idx.max(axis=1) >= shape[:sparse_dims]).any()))):
        raise SerializationError(f'ember.load: corrupt file: a sparse tensor of shape {shape} has indices or values '
                                 f'that do not fit it')
    return _rebuild_sparse(indices, values, shape, coalesced, requires_grad)


# ---- loading ember's pickle format --------------------------------------------------------------------------------
class _EmberReader:
    """(Mixed into an unpickler) reads the data.pkl of ember's pickle format. weights_only: tensors, parameters,
    containers, ember values and the user's allowlisted globals only; otherwise any global (the user trusts it)."""

    def __init__(self, data, archive, archive_size, place, budget, weights_only):
        super().__init__(io.BytesIO(data))
        self.data, self.budget = data, budget
        self.archive, self.archive_size, self.place, self.weights_only = archive, archive_size, place, weights_only
        self.arrays = {}
        self.allowed = {('ember.serialization', '_rebuild_pickled_tensor'): self.rebuild}
        if weights_only:
            from .._tensor import Size
            self.allowed.update(_value_globals())
            self.allowed.update({
                ('ember._tensor', 'Tensor'): _TypeMarker('Tensor'),
                ('ember.nn.parameter', 'Parameter'): _TypeMarker('Parameter'),
                ('ember._tensor', 'Size'): Size,
                ('ember._dtype', '_by_name'): _dtype_by_name,
                ('ember.backends', 'device'): _device_global,
                ('ember.sparse', '_rebuild_sparse'): _rebuild_sparse_checked,
            })
        if isinstance(self, _RestrictedUnpickler):
            rebuild = self.allowed[('ember.serialization', '_rebuild_pickled_tensor')]
            self._restrict({_NpDtype, _NpArrayBuilder}, [rebuild, _np_reconstruct, _rebuild_sparse_checked])

    def rebuild(self, cls, array, device, requires_grad, state=None):
        return _make_tensor(cls, array, device, requires_grad, state, self.place)

    def find_class(self, module, name):
        fn = self.allowed.get(('builtins' if module == '__builtin__' else module, name))
        if fn is not None:
            return fn
        user = _user_global(module, name)
        if user is not None:
            return user
        if not self.weights_only:
            return super().find_class(module, name)
        raise _refused(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == _ARRAY_PID):
            raise pickle.UnpicklingError(f'ember.load: unsupported persistent id {pid!r:.200} in the file')
        _, key, spec, shape, order = pid
        cached = self.arrays.get(key)
        if cached is not None:
            if cached[0] != pid:
                raise SerializationError(f'ember.load: corrupt file: array {key!r:.60} is described two ways')
            return cached[1]
        if not isinstance(key, str) or not isinstance(spec, str) or order not in ('C', 'F'):
            raise SerializationError(f'ember.load: corrupt file: bad array record {pid!r:.200}')
        shape = _as_ints(shape, 'shape')
        try:
            dt = _np.dtype(spec)
        except (TypeError, ValueError):
            dt = None
        if dt is None or not _raw_array_dtype(dt) or any(n < 0 for n in shape):
            raise SerializationError(f'ember.load: corrupt file: array record {pid!r:.200} has a dtype or shape '
                                     f'ember does not read (number and bool arrays only)')
        _check_shape(shape, dt.itemsize, f'array {key!r:.60}')
        raw = _read_member(self.archive, self.archive_size, f'{_ZIP_PREFIX}data/{key}', math.prod(shape) * dt.itemsize,
                           self.budget)
        arr = _np.frombuffer(raw, dt)
        arr = arr.reshape(shape) if order == 'C' else arr.reshape(shape[::-1]).T
        self.arrays[key] = (pid, arr)
        return arr


class _EmberUnpickler(_EmberReader, _RestrictedUnpickler):
    """ember's data.pkl under weights_only=True."""


class _TrustingEmberUnpickler(_EmberReader, pickle.Unpickler):
    """ember's data.pkl under weights_only=False."""
