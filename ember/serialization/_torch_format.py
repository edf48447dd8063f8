"""Reading PyTorch's torch.save zip checkpoints without PyTorch: storages, the views sharing them, data.pkl."""
import io
import math
import pickle

import numpy as _np

from ._common import SerializationError, _as_ints, _bf16_to_f32, _carrier, _check_shape, _read_member
from ._restricted import (
    _NpArrayBuilder, _NpDtype, _RestrictedUnpickler, _TypeMarker, _device_global, _np_reconstruct, _refused,
    _user_global, _value_globals)


# ---- loading PyTorch's torch.save zip checkpoints ---------------------------------------------------------------
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'


# storage type name -> (carrier NumPy dtype in the file, ember dtype name or None for bfloat16 -> float32)
_STORAGE_TYPES = {
    'FloatStorage': 'f4', 'DoubleStorage': 'f8', 'HalfStorage': 'f2', 'BFloat16Storage': 'bf16',
    'LongStorage': 'i8', 'IntStorage': 'i4', 'ShortStorage': 'i2', 'CharStorage': 'i1', 'ByteStorage': 'u1',
    'BoolStorage': '?', 'UntypedStorage': 'u1', 'ComplexFloatStorage': 'c8', 'ComplexDoubleStorage': 'c16',
}
_TORCH_DTYPES = {
    'float32': 'f4', 'float': 'f4', 'float64': 'f8', 'double': 'f8', 'float16': 'f2', 'half': 'f2',
    'bfloat16': 'bf16', 'int64': 'i8', 'long': 'i8', 'int32': 'i4', 'int': 'i4', 'int16': 'i2', 'short': 'i2',
    'int8': 'i1', 'uint8': 'u1', 'bool': '?', 'complex64': 'c8', 'cfloat': 'c8', 'complex128': 'c16', 'cdouble': 'c16',
}
_TORCH_UNSUPPORTED = {'complex32', 'chalf', 'uint16', 'uint32',
                      'uint64', 'float8_e4m3fn', 'float8_e5m2', 'float8_e4m3fnuz', 'float8_e5m2fnuz',
                      'float8_e8m0fnu', 'float4_e2m1fn_x2', 'qint8', 'quint8', 'qint32', 'quint4x2', 'bits8'}


class _StorageType:
    """What a torch ``*Storage`` global unpickles to: just its element type."""

    def __init__(self, name, code):
        self.name, self.code = name, code

    def __repr__(self):
        return f'torch.{self.name}'


class _TorchDtype:
    """A torch dtype global in a checkpoint (the ember dtype when ember has it)."""

    def __init__(self, name, code):
        self.name, self.code = name, code

    def __repr__(self):
        return f'torch.{self.name}'


class _Storage:
    """A storage read from the archive: a flat writable array in its file dtype, plus where it was saved. Tensors are
    views into it (``typed``), so views of one storage share memory after loading, as in PyTorch."""

    def __init__(self, flat, code, location, big_endian=False):
        self.flat, self.code, self.location, self.big_endian = flat, code, location, big_endian
        self.views = {}  # element type code -> the whole storage as a native-order array of that type

    def typed(self, code, budget):
        arr = self.views.get(code)
        if arr is not None:
            return arr
        flat = self.flat
        if self.code != code:  # an untyped (byte) storage viewed with the tensor's dtype
            dt = _carrier(code)
            if self.big_endian and dt.itemsize > 1:
                dt = dt.newbyteorder('>')
            if flat.nbytes % dt.itemsize:
                raise SerializationError(f'ember.load: corrupt checkpoint: a storage of {flat.nbytes} bytes is not a '
                                         f'whole number of {dt.itemsize}-byte elements')
            flat = flat.view(dt)
        if code == 'bf16':  # ember has no bfloat16: the whole storage is widened (exactly) to float32 once
            budget.take(flat.size * 4, 'widening a bfloat16 storage to float32')
            flat = _bf16_to_f32(flat)
        elif not flat.dtype.isnative:
            budget.take(flat.nbytes, 'byte-swapping a big-endian storage')
            flat = flat.astype(flat.dtype.newbyteorder('='))
        self.views[code] = flat
        return flat


def _disjoint(size, stride):
    """Whether a strided view with these sizes and strides (in elements) never reaches one element twice: each
    dimension, in order of stride, steps over everything the smaller ones span (a sufficient condition)."""
    reach = 1
    for st, n in sorted((st, n) for n, st in zip(size, stride) if n > 1):
        if st < reach:
            return False
        reach += st * (n - 1)
    return True


def _storage_view(storage, code, offset, size, stride, budget):
    """The tensor's array: a view of ``storage`` (its elements at ``offset + sum(i_k * stride_k)``), sharing its
    memory. A view with a stride-0 dimension (what expand makes) is read-only, as ember's expanded tensors are; one
    whose elements overlap otherwise is copied out."""
    if type(offset) is not int or offset < 0:
        raise SerializationError(f'ember.load: corrupt checkpoint: storage offset {offset!r:.60} is invalid')
    size, stride = _as_ints(size, 'size'), _as_ints(stride, 'stride')
    if len(size) != len(stride) or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise SerializationError(f'ember.load: corrupt checkpoint: size {size!s:.200} and stride {stride!s:.200} do '
                                 f'not match')
    flat = storage.typed(code, budget)
    _check_shape(size, flat.itemsize, 'a tensor')
    if math.prod(size) == 0:
        return _np.empty(size, flat.dtype)
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= flat.size:
        raise SerializationError(f'ember.load: corrupt checkpoint: a tensor view (offset {offset}, size {size}, '
                                 f'stride {stride}) reaches element {last} of a storage of {flat.size} elements')
    stride = tuple(st if n > 1 else 0 for n, st in zip(size, stride))  # a size-1 dim's stride is never used
    expanded = any(st == 0 and n > 1 for n, st in zip(size, stride))
    view = _np.lib.stride_tricks.as_strided(flat[offset:], shape=size, strides=[st * flat.itemsize for st in stride],
                                            writeable=not expanded and flat.flags.writeable)
    if expanded or _disjoint(size, stride):
        return view
    budget.take(view.size * view.itemsize, 'copying out a tensor whose elements overlap in its storage')
    return _np.array(view, order='C')


class _TorchReader:
    """(Mixed into an unpickler) reads a torch.save data.pkl: tensor rebuilds, storages, containers and a few value
    types; with weights_only also the user's allowlisted globals and nothing else, so loading the checkpoint never
    runs code from the file. With weights_only=False other (non-PyTorch) globals are imported as pickle does;
    PyTorch's own classes never are (ember has none of them)."""

    def __init__(self, data, archive, archive_size, prefix, byteorder, place, budget, weights_only=True):
        super().__init__(io.BytesIO(data))
        self.data, self.budget = data, budget
        self.archive, self.prefix, self.byteorder, self.place = archive, prefix, byteorder, place
        self.storages = {}
        self.archive_size = archive_size
        self.weights_only = weights_only
        a = self
        self.allowed = _value_globals() if weights_only else {
            k: v for k, v in _value_globals().items() if k[0].split('.')[0] != 'numpy'}
        self.allowed.update({
            ('torch._utils', '_rebuild_tensor'): a.rebuild_tensor_v1,
            ('torch._utils', '_rebuild_tensor_v2'): a.rebuild_tensor_v2,
            ('torch._utils', '_rebuild_tensor_v3'): a.rebuild_tensor_v3,
            ('torch._utils', '_rebuild_parameter'): a.rebuild_parameter,
            ('torch._utils', '_rebuild_parameter_with_state'): a.rebuild_parameter,
            ('torch._tensor', '_rebuild_from_type_v2'): a.rebuild_from_type_v2,
            ('torch', 'Tensor'): _TypeMarker('Tensor'),
            ('torch.nn.parameter', 'Parameter'): _TypeMarker('Parameter'),
            ('torch', 'Size'): a.size,
            ('torch', 'device'): a.device,
        })
        if isinstance(self, _RestrictedUnpickler):
            self._restrict({_NpDtype, _NpArrayBuilder}, [self.allowed[('torch._utils', n)] for n in (
                '_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3', '_rebuild_parameter')] + [
                self.allowed[('torch._tensor', '_rebuild_from_type_v2')], _np_reconstruct])

    def find_class(self, module, name):
        asked = module
        if module == '__builtin__':
            module = 'builtins'
        fn = self.allowed.get((module, name))
        if fn is not None:
            return fn
        if module in ('torch', 'torch.storage') and name in _STORAGE_TYPES:
            return _StorageType(name, _STORAGE_TYPES[name])
        if module == 'torch' and (name in _TORCH_DTYPES or name in _TORCH_UNSUPPORTED):
            code = _TORCH_DTYPES.get(name)
            if code is not None and code != 'bf16':  # the ember dtype (bfloat16 and others stay markers)
                from .._dtype import from_np
                return from_np(_carrier(code).newbyteorder('='))
            return _TorchDtype(name, code)
        if module == 'torch' and name.endswith('Storage'):
            raise SerializationError(f'ember.load: the checkpoint holds a torch.{name}, a storage type ember does '
                                     f'not support (supported element types: float16/32/64, bfloat16 (loaded as '
                                     f'float32), complex64/128, int8/16/32/64, uint8, bool)')
        user = _user_global(asked, name)
        if user is not None:
            return user
        if module == 'torch' or module.startswith('torch.'):
            raise pickle.UnpicklingError(
                f"ember.load refused the global '{asked}.{name}' in this PyTorch checkpoint: it is a PyTorch class or "
                f"function, and ember cannot unpickle torch.nn modules or other PyTorch objects (with any "
                f"weights_only), only tensors, parameters, state dicts and plain containers. If the file holds a "
                f"whole pickled model (torch.save(model, f)), load it in PyTorch and save model.state_dict() instead.")
        if not self.weights_only:
            return super().find_class(asked, name)
        raise _refused(asked, name, ' in this PyTorch checkpoint')

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == 'storage'):
            raise pickle.UnpicklingError(f'ember.load: unsupported persistent id {pid!r:.200} in the checkpoint')
        _, stype, key, location, numel = pid
        if not isinstance(stype, _StorageType):
            raise SerializationError(f'ember.load: corrupt checkpoint: storage type {stype!r:.100} is not a torch '
                                     f'storage type')
        if not isinstance(key, str) or not isinstance(location, str) or type(numel) is not int or numel < 0:
            raise SerializationError(f'ember.load: corrupt checkpoint: bad storage record {pid!r:.200}')
        cached = self.storages.get(key)
        if cached is not None:
            return cached
        storage = _Storage(self.read_storage(key, stype.code, numel), stype.code, location, self.byteorder == 'big')
        self.storages[key] = storage
        return storage

    def read_storage(self, key, code, numel):
        name = f'{self.prefix}data/{key}'
        dt = _carrier(code)
        expected = numel * dt.itemsize
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise SerializationError(f"ember.load: corrupt checkpoint: storage '{name}' is missing from the "
                                     f"archive") from None
        if info.file_size != expected:
            raise SerializationError(f"ember.load: corrupt checkpoint: storage '{name}' should hold {numel} elements "
                                     f"({expected} bytes) but the archive member holds {info.file_size} bytes")
        raw = _read_member(self.archive, self.archive_size, name, expected, self.budget)
        flat = _np.frombuffer(raw, dt)
        if self.byteorder == 'big' and dt.itemsize > 1:
            flat = flat.view(dt.newbyteorder('>'))
        return flat

    # ---- the callables a checkpoint may invoke --------------------------------------------------------------------
    def _tensor(self, storage, offset, size, stride, requires_grad, code):
        from .._tensor import _wrap
        from ..backends import cpu
        if not isinstance(storage, _Storage):
            raise SerializationError(f'ember.load: corrupt checkpoint: a tensor rebuild got {type(storage).__name__} '
                                     f'instead of a storage')
        if code is None:
            raise SerializationError('ember.load: the checkpoint holds a tensor of a dtype ember does not support')
        t = self.place(_wrap(_storage_view(storage, code, offset, size, stride, self.budget), cpu), storage.location)
        if requires_grad is True and t.is_floating_point():
            t.requires_grad_(True)
        return t

    def rebuild_tensor_v1(self, storage, storage_offset, size, stride):
        return self._tensor(storage, storage_offset, size, stride, False, getattr(storage, 'code', None))

    def rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                          metadata=None):
        return self._tensor(storage, storage_offset, size, stride, requires_grad, getattr(storage, 'code', None))

    def rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                          metadata=None):
        from .._dtype import dtype as _ember_dtype
        if isinstance(dtype, _ember_dtype):
            dtype = _TorchDtype(dtype.name, _TORCH_DTYPES[dtype.name])
        if not isinstance(dtype, _TorchDtype):
            raise SerializationError(f'ember.load: corrupt checkpoint: {dtype!r:.100} is not a torch dtype')
        if dtype.code is None:
            raise SerializationError(f'ember.load: the checkpoint holds a torch.{dtype.name} tensor; ember does '
                                     f'not support that dtype')
        return self._tensor(storage, storage_offset, size, stride, requires_grad, dtype.code)

    def rebuild_parameter(self, data, requires_grad, backward_hooks, state=None):
        from .._tensor import Tensor
        if not isinstance(data, Tensor):
            raise SerializationError('ember.load: corrupt checkpoint: a parameter rebuild got no tensor')
        try:
            from ..nn.parameter import Parameter
        except ImportError:
            if requires_grad is True and data.is_floating_point():
                data.requires_grad_(True)
            return data
        return Parameter(data, requires_grad is True and data.is_floating_point())

    def rebuild_from_type_v2(self, func, new_type, args, state):
        if func not in (self.rebuild_tensor_v2, self.rebuild_tensor_v3, self.rebuild_parameter) \
                or not isinstance(new_type, _TypeMarker) or not isinstance(args, tuple):
            raise pickle.UnpicklingError('ember.load refused a tensor subclass rebuild in this PyTorch checkpoint: '
                                         'only torch.Tensor and torch.nn.Parameter are supported')
        t = func(*args)
        if new_type.name == 'Parameter':
            return self.rebuild_parameter(t, True, None)
        return t

    @staticmethod
    def size(dims=()):
        from .._tensor import Size
        return Size(_as_ints(tuple(dims), 'size'))

    device = staticmethod(lambda kind, index=None: _device_global(kind, index))


class _TorchUnpickler(_TorchReader, _RestrictedUnpickler):
    """A PyTorch data.pkl under weights_only=True."""


class _TrustingTorchUnpickler(_TorchReader, pickle.Unpickler):
    """A PyTorch data.pkl under weights_only=False (pickle's own unpickler: the user trusts the file)."""
