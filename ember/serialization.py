"""ember.save / ember.load: safetensors+JSON for tensors and containers, a pickle zip for other objects; safe loads."""
import base64
import collections
import io
import json
import math
import os
import pickle
import pickletools
import sys
import tempfile
import types
import warnings
import zipfile

import numpy as _np

__all__ = ['save', 'load', 'SerializationError', 'add_safe_globals', 'get_safe_globals', 'clear_safe_globals',
           'safe_globals', 'get_unsafe_globals_in_checkpoint', 'DEFAULT_PROTOCOL', 'set_load_memory_budget',
           'get_load_memory_budget']

# ember.save writes one safetensors file (https://github.com/huggingface/safetensors: an 8-byte little-endian
# header length, a JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian bytes).
# The Python structure around the tensors (dicts with int keys, tuples, OrderedDict order, numbers, strings...)
# is tagged JSON stored as a string in the header's __metadata__ under _META_KEY. The format is read and written
# here directly (it is a few dozen lines), so ember.save/load need only NumPy; the `safetensors` package reads the
# files (and ember reads its files) - the tests check both ways.
#
# Anything that structure cannot express (a whole nn.Module, an optimizer, a user's class instance, a named tuple,
# a tensor subclass, a dict keyed by tensors, a complex NumPy array...) is pickled instead, as torch.save does, into a
# zip archive (ZIP_STORED): ember/ember_format (a marker), ember/data.pkl (the pickle) and ember/data/<key> (the raw
# bytes of each NumPy array and tensor; the pickle refers to them by persistent id, so no tensor bytes are inside it).
# ember.load reads such a pickle, and the data.pkl of PyTorch checkpoints, with weights_only=True (the default) through
# a restricted unpickler: it rebuilds tensors, parameters and plain containers, and any other global only if the user
# allowlisted it (add_safe_globals / safe_globals); everything else is refused with pickle.UnpicklingError before it
# can run. weights_only=False unpickles everything: the user's explicit choice to trust the file.

_META_KEY = 'ember'
_FORMAT_VERSION = 1
_MAX_HEADER = 100_000_000  # the safetensors package's own limit on the JSON header
_MAX_PICKLE = 1 << 30  # refuse a data.pkl claiming more than 1 GiB
_READ_CHUNK = 1 << 22  # bytes read from a zip member at a time
_MAX_DIMS = 64 if int(_np.__version__.split('.')[0]) >= 2 else 32  # NumPy's limit on an array's dimensions

_ST_TO_NP = {'F16': '<f2', 'F32': '<f4', 'F64': '<f8', 'I8': 'i1', 'I16': '<i2', 'I32': '<i4', 'I64': '<i8',
             'U8': 'u1', 'BOOL': '?'}
_NP_TO_ST = {_np.dtype(v).newbyteorder('='): k for k, v in _ST_TO_NP.items()}
_NP_SCALAR_TYPES = frozenset(_np.dtype(c).type
                             for c in ('?', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8'))
_UNSUPPORTED_ST = {'U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64', 'C128'}


DEFAULT_PROTOCOL = 2  # PyTorch's constant; ember pickles with protocol 4 unless save() is given pickle_protocol
_PICKLE_PROTOCOL = 4
_ZIP_PREFIX = 'ember/'
_ZIP_MARKER = _ZIP_PREFIX + 'ember_format'
_ZIP_MAGIC = b'ember-pickle 1\n'
_ARRAY_PID = 'ember.ndarray'


class SerializationError(RuntimeError):
    """A file ember.load cannot read: truncated, corrupt, crafted, or holding something ember does not support."""


class _NeedsPickle(Exception):
    """Raised by the JSON encoder for an object its tagged JSON cannot express: the pickle format is used instead."""


# ---- the memory budget of one load --------------------------------------------------------------------------------
# A load allocates memory for the data of the tensors and arrays it reads (storages, bfloat16 widening, byte swaps,
# NumPy arrays in pickles). An honest file needs about its own size (twice it for bfloat16); a crafted one can claim
# far more (compressed members, members sharing bytes, overlapping views), so every allocation is counted against a
# budget first and a load that would go over it is refused before allocating.
_DEFAULT_BUDGET_SLACK = 1 << 30
_budget_setting = [None]


def set_load_memory_budget(nbytes):
    """Cap the bytes of tensor and array data one ``ember.load`` may allocate; ``None`` restores the default (twice
    the file's size plus 1 GiB). A file that needs more is refused with ``SerializationError`` before it allocates."""
    if nbytes is not None and (type(nbytes) is not int or nbytes < 0):
        raise TypeError(f'set_load_memory_budget expects a non-negative int number of bytes or None, not {nbytes!r}')
    _budget_setting[0] = nbytes


def get_load_memory_budget():
    """The cap set with ``set_load_memory_budget`` (None: the default, twice the file's size plus 1 GiB)."""
    return _budget_setting[0]


class _Budget:
    """The bytes one load may still allocate."""

    def __init__(self, file_size):
        setting = _budget_setting[0]
        self.limit = 2 * max(file_size, 0) + _DEFAULT_BUDGET_SLACK if setting is None else setting
        self.used = 0

    def take(self, nbytes, what):
        if self.used + nbytes > self.limit:
            raise SerializationError(
                f'ember.load: {what} needs {nbytes} bytes, which would take this load to {self.used + nbytes} bytes, '
                f'over its memory budget of {self.limit} bytes (the file is corrupt or crafted, or raise the budget '
                f'with ember.serialization.set_load_memory_budget)')
        self.used += nbytes


def _check_shape(shape, itemsize, what):
    """Refuse a shape NumPy cannot make (too many dimensions, or too many elements even when a size is 0)."""
    if len(shape) > _MAX_DIMS:
        raise SerializationError(f'ember.load: corrupt file: {what} has {len(shape)} dimensions, more than the '
                                 f'{_MAX_DIMS} ember supports')
    if any(s < 0 for s in shape):
        raise SerializationError(f'ember.load: corrupt file: {what} has a negative size in shape {list(shape)}')
    if math.prod(s for s in shape if s) * max(itemsize, 1) >= 1 << 63:
        raise SerializationError(f'ember.load: corrupt file: {what} has shape {list(shape)}, too big for an array')


# ---- saving -------------------------------------------------------------------------------------------------------
def _tensor_types():
    from ._tensor import Tensor
    try:
        from .nn.parameter import Parameter
    except Exception:  # ember.nn not importable: plain tensors only
        Parameter = ()
    return Tensor, Parameter


class _Encoder:
    """Turns an object tree into tagged JSON, collecting its tensors under unique names."""

    def __init__(self):
        self.Tensor, self.Parameter = _tensor_types()
        self.arrays = {}  # name -> little-endian contiguous ndarray, in the order written
        self.active = set()  # ids of the containers being encoded (the path from the root)

    def _name(self, path):
        base = '.'.join(path) or 'tensor'
        name, i = base, 1
        while name in self.arrays or name == '__metadata__':
            name, i = f'{base}#{i}', i + 1
        return name

    def _array(self, arr, path):
        arr = _np.asarray(arr, order='C')  # (ascontiguousarray would make 0-d arrays 1-d)
        if arr.dtype.byteorder == '>':
            arr = arr.astype(arr.dtype.newbyteorder('<'))
        if arr.dtype.newbyteorder('=') not in _NP_TO_ST:
            raise _NeedsPickle(f"an array of dtype {arr.dtype} at {'/'.join(path) or '<root>'}")
        name = self._name(path)
        self.arrays[name] = arr
        return name

    def key(self, k, path):
        if type(k) in (str, int, float, bool, tuple) or k is None:
            return self.enc(k, path)
        raise _NeedsPickle(f"a dict key of type {type(k).__name__} at {'/'.join(path) or '<root>'}")

    def enc(self, obj, path):
        container = isinstance(obj, (list, tuple, dict, set, frozenset))
        if container:
            if id(obj) in self.active:  # a reference cycle: pickle keeps it
                raise _NeedsPickle(f"a reference cycle at {'/'.join(path) or '<root>'}")
            if len(self.active) >= 200:  # very deep: pickle goes deeper than this recursive encoder
                raise _NeedsPickle('an object nested more than 200 levels deep')
            self.active.add(id(obj))
        try:
            return self._enc(obj, path)
        finally:
            if container:
                self.active.discard(id(obj))

    def _enc(self, obj, path):
        from ._dtype import dtype as _dtype_cls
        from .backends import device as _device_cls
        from ._tensor import Size
        if obj is None or type(obj) in (bool, str):
            return obj
        if type(obj) is int:
            return obj
        if type(obj) is float:
            return float(obj) if math.isfinite(obj) else {'$': 'float', 'v': repr(float(obj))}
        if isinstance(obj, self.Tensor):
            if type(obj) is not self.Tensor and not (self.Parameter and type(obj) is self.Parameter):
                raise _NeedsPickle(f'a tensor subclass {type(obj).__qualname__}')
            out = {'$': 'tensor', 'k': self._array(obj.detach().numpy(force=True), path)}
            if obj.requires_grad:
                out['rg'] = True
            if obj.device.type != 'cpu':
                out['dev'] = str(obj.device)
            if self.Parameter and isinstance(obj, self.Parameter):
                out['param'] = True
            return out
        if type(obj) is _np.ndarray:
            return {'$': 'ndarray', 'k': self._array(obj, path)}
        if type(obj) in _NP_SCALAR_TYPES:
            if obj.dtype.kind == 'b':
                return bool(obj)
            if obj.dtype.kind in 'iu':
                return {'$': 'npscalar', 'dtype': obj.dtype.name, 'v': int(obj)}
            if obj.dtype.kind == 'f':
                return {'$': 'npscalar', 'dtype': obj.dtype.name, 'v': self._enc(float(obj), path)}
        if type(obj) is Size:
            return {'$': 'size', 'v': [int(s) for s in obj]}
        if type(obj) is _dtype_cls:
            return {'$': 'dtype', 'v': obj.name}
        if type(obj) is _device_cls:
            return {'$': 'device', 'v': str(obj)}
        if type(obj) in (bytes, bytearray):
            return {'$': 'bytes', 'v': base64.b64encode(bytes(obj)).decode('ascii')}
        if type(obj) is tuple:
            return {'$': 'tuple', 'v': [self.enc(x, path + [str(i)]) for i, x in enumerate(obj)]}
        if type(obj) is list:
            return [self.enc(x, path + [str(i)]) for i, x in enumerate(obj)]
        if type(obj) in (set, frozenset):
            return {'$': 'frozenset' if isinstance(obj, frozenset) else 'set',
                    'v': [self.key(x, path) for x in obj]}
        if isinstance(obj, dict) and type(obj) in (dict, collections.OrderedDict, collections.defaultdict):
            items = [[self.key(k, path), self.enc(v, path + [str(k)])] for k, v in obj.items()]
            if isinstance(obj, collections.OrderedDict):
                out = {'$': 'odict', 'v': items}
                meta = getattr(obj, '_metadata', None)
                if isinstance(meta, dict):
                    out['meta'] = self.enc(meta, path + ['_metadata'])
                return out
            return {'$': 'dict', 'v': items}
        raise _NeedsPickle(f"an object of type {type(obj).__module__}.{type(obj).__qualname__} at "
                           f"{'/'.join(path) or '<root>'}")


def _serialize(obj):
    """(header bytes padded to 8, [arrays]) for ``obj``."""
    enc = _Encoder()
    try:
        structure = enc.enc(obj, [])
    except RecursionError:
        raise _NeedsPickle('an object nested too deeply') from None
    header, offset = {}, 0
    for name, arr in enc.arrays.items():
        header[name] = {'dtype': _NP_TO_ST[arr.dtype.newbyteorder('=')],
                        'shape': list(arr.shape), 'data_offsets': [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    meta = json.dumps({'version': _FORMAT_VERSION, 'structure': structure}, separators=(',', ':'), allow_nan=False)
    header = {'__metadata__': {'format': 'ember', _META_KEY: meta}, **header}
    raw = json.dumps(header, separators=(',', ':')).encode('utf-8')
    raw += b' ' * (-len(raw) % 8)
    return raw, list(enc.arrays.values())


def _write_array(fh, arr):
    if arr.size:
        fh.write(arr.reshape(-1).view(_np.uint8).data)


def _write(fh, header, arrays):
    fh.write(len(header).to_bytes(8, 'little'))
    fh.write(header)
    for arr in arrays:
        _write_array(fh, arr)


def _new_file_mode():
    try:
        with open('/proc/self/status') as st:
            for line in st:
                if line.startswith('Umask:'):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# A save writes <dir>/.<name>.<pid>.<random>.tmp and renames it over <dir>/<name>. The writer holds an exclusive flock
# on it while it exists, so a later save of the same target can tell the leftovers of a crashed save (killed, power
# lost: no handler ran) from a save still in progress in another process, and remove only the former.
try:
    import fcntl as _fcntl
except ImportError:  # Windows: stale files are recognised by their writer's pid alone
    _fcntl = None
_STALE_GRACE_S = 60  # a lockable temporary file of a live process younger than this may be about to be locked
_FOREIGN_STALE_S = 3600  # temporary files without a pid (an older ember) are left alone for this long


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True  # someone else's process (or a pid this platform cannot ask about): assume alive
    return True


def _remove_stale_temporaries(directory, base):
    """Remove the temporary files crashed saves of ``base`` left in ``directory``: regular files named
    ``.<base>.[<pid>.]<random>.tmp`` that no process holds locked, whose writer is gone (or that are old)."""
    import stat
    import time
    prefix = '.' + base + '.'
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith('.tmp')]
    except OSError:
        return
    for name in names:
        parts = name[len(prefix):-len('.tmp')].split('.')
        pid = int(parts[0]) if len(parts) == 2 and parts[0].isdigit() else None
        if len(parts) > 2 or (len(parts) == 2 and pid is None):
            continue  # not a name a save makes
        full = os.path.join(directory, name)
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            if _fcntl is not None:
                try:
                    _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                except OSError:
                    continue  # a save in progress holds it
            age = time.time() - st.st_mtime
            if pid is None:
                stale = _fcntl is not None and age > _FOREIGN_STALE_S
            else:
                stale = not _pid_alive(pid) or (_fcntl is not None and age > _STALE_GRACE_S)
            if stale and os.path.samestat(st, os.lstat(full)):
                os.unlink(full)
        except OSError:
            pass
        finally:
            os.close(fd)


def _atomic_write(path, writer):
    """Call ``writer(fh)`` on a temporary file next to ``path``, fsync it, then rename it over ``path``: a crash or
    error midway leaves any previous file at ``path`` as it was. The temporary file is removed on any exception
    (KeyboardInterrupt included); ones left by saves that were killed are removed by the next save of ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = _new_file_mode()
    _remove_stale_temporaries(directory, base)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f'.{base}.{os.getpid()}.', suffix='.tmp', dir=directory)
        with os.fdopen(fd, 'wb') as fh:
            if _fcntl is not None:
                _fcntl.flock(fh.fileno(), _fcntl.LOCK_EX)  # held until the file is closed, after the rename
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
            if _fcntl is None:
                fh.close()  # (Windows cannot rename a file that is open)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
            tmp = None
    except BaseException:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# ---- the pickle format (objects the JSON structure cannot express) ------------------------------------------------
def _raw_array_dtype(dt):
    """Whether NumPy dtype ``dt`` is stored as raw bytes (numbers and bool; never objects, records or strings)."""
    return dt.kind in 'biufc' and dt.fields is None and dt.subdtype is None and not dt.hasobject


def _rebuild_pickled_tensor(cls, array, device, requires_grad, state):
    """What a tensor in ember's pickle format unpickles through (the loaders substitute a map_location-aware one)."""
    return _make_tensor(cls, array, device, requires_grad, state, _placer(None))


def _make_tensor(cls, array, device, requires_grad, state, place):
    from ._dtype import _FROM_NP
    from ._tensor import Tensor, _wrap
    from .backends import cpu
    if isinstance(cls, _TypeMarker):
        cls = cls.resolve()
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise pickle.UnpicklingError(f'ember.load: a tensor rebuild names {cls!r:.100}, which is not a tensor class')
    if not isinstance(array, _np.ndarray) or array.dtype.newbyteorder('=') not in _FROM_NP:
        raise SerializationError(f'ember.load: corrupt file: a tensor rebuild got '
                                 f'{getattr(array, "dtype", type(array).__name__)!s:.60} instead of an array of a '
                                 f'dtype ember supports')
    if not isinstance(device, str) or type(requires_grad) is not bool or not (state is None or (
            isinstance(state, dict) and all(isinstance(k, str) for k in state))):
        raise SerializationError('ember.load: corrupt file: bad tensor rebuild arguments')
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder('='))
    t = place(_wrap(array, cpu), device)
    requires_grad = requires_grad and t.is_floating_point()
    if cls is not Tensor:
        from .nn.parameter import Parameter, _share_into
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
                    _write_array(member, mem)
    return writer


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save ``obj`` to ``f``: tensors, state dicts, optimizer state dicts, NumPy arrays, or any picklable object.

    ``f`` is a path (written atomically: a temporary file in the same directory, fsync, rename) or a binary file
    object (written from its current position).

    - Tensors, NumPy arrays and containers of them and of plain values (dicts, lists, tuples, sets, numbers,
      strings, bytes, None, dtypes, devices, Sizes) - state dicts, optimizer state dicts, checkpoints - go to a
      safetensors file: a dict of tensors with str keys is stored under those keys, so
      ``safetensors.torch.load_file`` reads it into PyTorch; the rest of the structure (int keys, tuples, OrderedDict
      order, numbers...) is JSON in the header metadata. Storage sharing between tensors is not recorded.
    - Anything else (a whole ``nn.Module``, an optimizer, instances of your classes, named tuples, tensor subclasses)
      is pickled, as ``torch.save`` does, into a zip archive whose tensor and array bytes sit outside the pickle.
      Loading it with ``ember.load``'s default ``weights_only=True`` needs the classes allowlisted
      (``ember.serialization.add_safe_globals``); ``weights_only=False`` loads it if you trust the file. Objects
      shared within ``obj`` (tied weights) stay shared.

    ``pickle_protocol`` (2 or more) sets the pickle protocol (default 4); ``pickle_module`` is accepted for PyTorch
    compatibility and ignored.
    """
    try:
        header, arrays = _serialize(obj)
    except _NeedsPickle:
        header = None
    if header is not None:
        def writer(fh):
            _write(fh, header, arrays)
    else:
        protocol = _PICKLE_PROTOCOL if pickle_protocol is None else int(pickle_protocol)
        if not 2 <= protocol <= pickle.HIGHEST_PROTOCOL:
            raise ValueError(f'ember.save: pickle_protocol must be between 2 and {pickle.HIGHEST_PROTOCOL}, not '
                             f'{pickle_protocol}')
        writer = _pickle_archive(obj, protocol)
    if isinstance(f, (str, bytes, os.PathLike)):
        _atomic_write(os.fsdecode(f), writer)
    elif hasattr(f, 'write'):
        writer(f)
    else:
        raise TypeError(f'ember.save: f must be a path or a writable binary file object, not {type(f).__name__}')


# ---- placing loaded tensors (map_location) ---------------------------------------------------------------------
class _UserError(Exception):
    """Carries an exception raised by the user's map_location callable past the checks that turn everything else a
    load raises into SerializationError."""

    def __init__(self, error):
        super().__init__(error)
        self.error = error


def _placer(map_location):
    """A function (cpu tensor, saved location string) -> tensor on the device map_location asks for."""
    from .backends import device as _device_cls

    def move(t, loc):
        if loc in ('cpu', None):
            return t
        if not isinstance(loc, str):
            raise SerializationError(f'ember.load: corrupt file: a tensor location {loc!r:.60} is not a string')
        try:
            return t.to(loc)
        except (RuntimeError, TypeError, ValueError) as e:
            raise SerializationError(f"ember.load: a tensor was saved on '{loc:.60}', which is not available here "
                                     f"({e}). Pass map_location='cpu' (or another device) to ember.load.") from e

    if map_location is None:
        return move
    if isinstance(map_location, (str, _device_cls)):
        target = str(_device_cls(map_location)) if not isinstance(map_location, str) else map_location
        return lambda t, loc: move(t, target)
    if isinstance(map_location, dict):
        mapping = {str(k): str(v) for k, v in map_location.items()}
        return lambda t, loc: move(t, mapping.get(loc, loc))
    if callable(map_location):
        def call(t, loc):
            try:
                out = map_location(t, loc)
            except BaseException as e:  # the user's own error: ember.load re-raises it as it is
                raise _UserError(e) from None
            if out is None:
                return move(t, loc)
            if isinstance(out, str) or isinstance(out, _device_cls):
                return move(t, str(out))
            return out
        return call
    raise TypeError(f'map_location must be None, a str, a device, a dict or a callable, not '
                    f'{type(map_location).__name__}')


# ---- loading safetensors / ember files ---------------------------------------------------------------------------
def _file_size(fh):
    start = fh.tell()
    end = fh.seek(0, io.SEEK_END)
    fh.seek(start)
    return end - start


def _read_exact(fh, n, what):
    buf = bytearray(n)
    got = fh.readinto(buf) if hasattr(fh, 'readinto') else None
    if got is None:
        data = fh.read(n)
        got = len(data)
        buf[:got] = data
    if got != n:
        raise SerializationError(f'ember.load: file is truncated: {what} needs {n} bytes but only {got} remain')
    return buf


def _bf16_to_f32(raw_u16):
    return (raw_u16.astype('<u4') << 16).view('<f4').astype(_np.float32)


def _read_safetensors(fh, size, budget):
    if size < 8:
        raise SerializationError(f'ember.load: file is truncated or not an ember/safetensors file: {size} bytes, '
                                 f'fewer than the 8-byte header length')
    start = fh.tell()
    n = int.from_bytes(bytes(_read_exact(fh, 8, 'the header length')), 'little')
    if n > size - 8:
        raise SerializationError(f'ember.load: bad header: it declares a {n}-byte JSON header but the file has only '
                                 f'{size - 8} bytes after the length field (truncated, or not an ember/safetensors '
                                 f'file)')
    if n > _MAX_HEADER:
        raise SerializationError(f'ember.load: bad header: the declared JSON header of {n} bytes exceeds the '
                                 f'{_MAX_HEADER}-byte limit')
    raw = bytes(_read_exact(fh, n, 'the JSON header'))
    try:
        header = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SerializationError(f'ember.load: bad header: the JSON header does not parse ({e}); the file is '
                                 f'corrupt or not an ember/safetensors file') from None
    if not isinstance(header, dict):
        raise SerializationError('ember.load: bad header: the JSON header is not an object')
    meta = header.pop('__metadata__', None)
    if meta is not None and (not isinstance(meta, dict) or
                             not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())):
        raise SerializationError('ember.load: bad header: __metadata__ must map strings to strings')
    data_len = size - 8 - n
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) - {'dtype', 'shape', 'data_offsets'} or len(info) != 3:
            raise SerializationError(f"ember.load: bad header: entry '{name}' must have exactly dtype, shape and "
                                     f"data_offsets")
        st, shape, offs = info['dtype'], info['shape'], info['data_offsets']
        if st not in _ST_TO_NP and st != 'BF16':
            if st in _UNSUPPORTED_ST:
                raise SerializationError(f"ember.load: tensor '{name}' has dtype {st}, which ember does not support")
            raise SerializationError(f"ember.load: bad header: tensor '{name}' has unknown dtype {st!r}")
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise SerializationError(f"ember.load: bad header: tensor '{name}' has invalid shape {shape!r:.200}")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(type(o) is int for o in offs)
                or not 0 <= offs[0] <= offs[1]):
            raise SerializationError(f"ember.load: bad header: tensor '{name}' has invalid data_offsets {offs!r}")
        itemsize = 2 if st == 'BF16' else _np.dtype(_ST_TO_NP[st]).itemsize
        _check_shape(shape, itemsize, f"tensor '{name:.100}'")
        nbytes = math.prod(shape) * itemsize
        if offs[1] - offs[0] != nbytes:
            raise SerializationError(f"ember.load: bad header: tensor '{name}' of shape {shape} and dtype {st} needs "
                                     f"{nbytes} bytes but its data_offsets span {offs[1] - offs[0]}")
        if offs[1] > data_len:
            raise SerializationError(f"ember.load: file is truncated: tensor '{name}' declares bytes "
                                     f"{offs[0]}..{offs[1]} but the data section holds only {data_len} bytes")
        entries.append((offs[0], name, st, shape, offs))
    arrays = {}
    for _, name, st, shape, offs in sorted(entries, key=lambda e: e[0]):
        fh.seek(start + 8 + n + offs[0])
        budget.take(offs[1] - offs[0], f"tensor '{name:.100}'")
        buf = _read_exact(fh, offs[1] - offs[0], f"tensor '{name}'")
        if st == 'BF16':  # ember has no bfloat16: widened exactly to float32
            budget.take(2 * len(buf), f"widening bfloat16 tensor '{name:.100}' to float32")
            arr = _bf16_to_f32(_np.frombuffer(buf, '<u2')).reshape(shape)
        else:
            arr = _np.frombuffer(buf, _ST_TO_NP[st]).reshape(shape)
            if not arr.dtype.isnative:
                budget.take(arr.nbytes, f"byte-swapping tensor '{name:.100}'")
                arr = arr.astype(arr.dtype.newbyteorder('='))
        arrays[name] = arr
    return meta, arrays


class _Decoder:
    def __init__(self, arrays, place, budget):
        from ._tensor import _wrap
        from .backends import cpu
        self.arrays, self.place, self.wrap, self.cpu, self.budget = arrays, place, _wrap, cpu, budget

    def bad(self, msg):
        return SerializationError(f'ember.load: bad structure metadata: {msg}')

    def array(self, node):
        name = node.get('k')
        if not isinstance(name, str) or name not in self.arrays:
            raise self.bad(f'it refers to tensor {name!r}, which the file does not contain')
        return self.arrays[name]

    def key(self, node):
        k = self.dec(node)
        try:
            hash(k)
        except TypeError:
            raise self.bad(f'unhashable dict key of type {type(k).__name__}') from None
        return k

    def items(self, node):
        v = node.get('v')
        if not isinstance(v, list) or not all(isinstance(p, list) and len(p) == 2 for p in v):
            raise self.bad(f"'{node.get('$')}' items must be a list of [key, value] pairs")
        return [(self.key(k), self.dec(x)) for k, x in v]

    def dec(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.dec(x) for x in node]
        if not isinstance(node, dict):
            raise self.bad(f'unexpected JSON value {node!r}')
        tag = node.get('$')
        if tag == 'tensor':
            arr = self.array(node)
            dev, rg, param = node.get('dev', 'cpu'), node.get('rg', False), node.get('param', False)
            if not isinstance(dev, str) or type(rg) is not bool or type(param) is not bool:
                raise self.bad(f"a tensor's dev must be a string and its rg and param booleans, not "
                               f"{dev!r:.60}, {rg!r:.20}, {param!r:.20}")
            t = self.place(self.wrap(arr, self.cpu), dev)
            rg = rg and t.is_floating_point()
            if param:
                try:
                    from .nn.parameter import Parameter
                    return Parameter(t, rg)
                except ImportError:
                    pass
            if rg:
                t.requires_grad_(True)
            return t
        if tag == 'ndarray':
            arr = self.array(node)
            self.budget.take(arr.nbytes, 'a NumPy array')
            return _np.array(arr)
        if tag == 'npscalar':
            try:
                dt = _np.dtype(node['dtype'])
            except (TypeError, KeyError, ValueError):
                raise self.bad(f"unknown NumPy scalar dtype {node.get('dtype')!r:.60}") from None
            if dt.kind not in 'iuf' or dt.fields is not None or dt.subdtype is not None:
                raise self.bad(f'NumPy scalar dtype {dt} is not a number type')
            v = self.dec(node.get('v'))
            if type(v) not in ((int,) if dt.kind in 'iu' else (int, float)):
                raise self.bad(f'NumPy scalar of dtype {dt} has value {v!r:.60}')
            if dt.kind in 'iu' and not _np.iinfo(dt).min <= v <= _np.iinfo(dt).max:
                raise self.bad(f'NumPy scalar value {v} is out of range for dtype {dt}')
            if dt.kind == 'f' and type(v) is int and abs(v) > float(_np.finfo(dt).max):
                raise self.bad(f'NumPy scalar value {v} is out of range for dtype {dt}')
            with _np.errstate(over='ignore'):  # float64 values beyond float16/32 become inf, as NumPy casts them
                return dt.type(v)
        if tag == 'float':
            v = node.get('v')
            if v not in ('nan', 'inf', '-inf'):
                raise self.bad(f'bad float value {v!r}')
            return float(v)
        if tag == 'tuple':
            v = node.get('v')
            if not isinstance(v, list):
                raise self.bad('tuple items must be a list')
            return tuple(self.dec(x) for x in v)
        if tag in ('set', 'frozenset'):
            v = node.get('v')
            if not isinstance(v, list):
                raise self.bad('set items must be a list')
            items = [self.key(x) for x in v]
            return set(items) if tag == 'set' else frozenset(items)
        if tag == 'dict':
            return dict(self.items(node))
        if tag == 'odict':
            out = collections.OrderedDict(self.items(node))
            if 'meta' in node:
                out._metadata = self.dec(node['meta'])
            return out
        if tag == 'size':
            from ._tensor import Size
            v = node.get('v')
            if not isinstance(v, list) or not all(type(s) is int and 0 <= s < 1 << 63 for s in v):
                raise self.bad('size must be a list of non-negative ints')
            return Size(v)
        if tag == 'dtype':
            from ._dtype import _BY_NAME
            if node.get('v') not in _BY_NAME:
                raise self.bad(f"unknown dtype {node.get('v')!r}")
            return _BY_NAME[node['v']]
        if tag == 'device':
            from .backends import device
            if not isinstance(node.get('v'), str):
                raise self.bad('device must be a string')
            try:
                return device(node['v'])
            except (RuntimeError, TypeError, ValueError):
                return node['v']
        if tag == 'bytes':
            try:
                return base64.b64decode(node.get('v', ''), validate=True)
            except (ValueError, TypeError):
                raise self.bad('bytes are not valid base64') from None
        raise self.bad(f'unknown tag {tag!r}')


def _load_safetensors(fh, size, place, budget):
    from ._tensor import _wrap
    from .backends import cpu
    meta, arrays = _read_safetensors(fh, size, budget)
    if meta is None or _META_KEY not in meta:  # a plain safetensors file: a flat dict of tensors
        return {name: place(_wrap(arr, cpu), 'cpu') for name, arr in arrays.items()}
    try:
        doc = json.loads(meta[_META_KEY])
    except (ValueError, RecursionError) as e:
        raise SerializationError(f'ember.load: bad structure metadata: not valid JSON ({e})') from None
    if not isinstance(doc, dict) or 'structure' not in doc:
        raise SerializationError('ember.load: bad structure metadata: no structure recorded')
    if not isinstance(doc.get('version'), int) or doc['version'] > _FORMAT_VERSION:
        raise SerializationError(f"ember.load: the file was written by a newer ember (format version "
                                 f"{doc.get('version')!r}; this ember reads up to {_FORMAT_VERSION})")
    try:
        return _Decoder(arrays, place, budget).dec(doc['structure'])
    except RecursionError:
        raise SerializationError('ember.load: bad structure metadata: nested too deeply') from None


# ---- loading PyTorch's torch.save zip checkpoints ---------------------------------------------------------------
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'

# storage type name -> (carrier NumPy dtype in the file, ember dtype name or None for bfloat16 -> float32)
_STORAGE_TYPES = {
    'FloatStorage': 'f4', 'DoubleStorage': 'f8', 'HalfStorage': 'f2', 'BFloat16Storage': 'bf16',
    'LongStorage': 'i8', 'IntStorage': 'i4', 'ShortStorage': 'i2', 'CharStorage': 'i1', 'ByteStorage': 'u1',
    'BoolStorage': '?', 'UntypedStorage': 'u1',
}
_TORCH_DTYPES = {
    'float32': 'f4', 'float': 'f4', 'float64': 'f8', 'double': 'f8', 'float16': 'f2', 'half': 'f2',
    'bfloat16': 'bf16', 'int64': 'i8', 'long': 'i8', 'int32': 'i4', 'int': 'i4', 'int16': 'i2', 'short': 'i2',
    'int8': 'i1', 'uint8': 'u1', 'bool': '?',
}
_TORCH_UNSUPPORTED = {'complex32', 'complex64', 'complex128', 'cfloat', 'cdouble', 'chalf', 'uint16', 'uint32',
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


class _TypeMarker:
    """A class global a restricted unpickler hands out instead of the class (so the file cannot call it)."""

    def __init__(self, name):
        self.name = name

    def resolve(self):
        if self.name == 'Tensor':
            from ._tensor import Tensor
            return Tensor
        if self.name == 'Parameter':
            try:
                from .nn.parameter import Parameter
                return Parameter
            except ImportError:
                from ._tensor import Tensor
                return Tensor
        return _np.ndarray


class _NpDtype:
    """``numpy.dtype(spec, align, copy)`` in a checkpoint: plain number/bool dtypes only."""

    def __init__(self, spec, align=False, copy=False):
        try:
            dt = _np.dtype(spec) if isinstance(spec, str) else None
        except TypeError:
            dt = None
        if dt is None or dt.kind not in 'biufc' or dt.fields is not None or dt.subdtype is not None:
            raise pickle.UnpicklingError(f'ember.load refused numpy.dtype({spec!r:.60}): with weights_only=True only '
                                         f'NumPy arrays and scalars of number and bool dtypes can be loaded (load with '
                                         f'weights_only=False if you trust the file)')
        self.dtype = dt

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ('<', '>') and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(state[1])


class _NpArrayBuilder:
    """``numpy.core.multiarray._reconstruct(ndarray, ...)`` in a checkpoint; the array is made at BUILD and put in
    its place once unpickling is done."""
    array = None

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], _NpDtype)
                and isinstance(state[4], bytes)):
            raise pickle.UnpicklingError('ember.load refused a NumPy array in the checkpoint: only arrays of number '
                                         'or bool dtype stored as raw bytes can be loaded')
        _, shape, dt, fortran, raw = state
        shape = _as_ints(shape, 'NumPy array shape')
        if any(s < 0 for s in shape) or math.prod(shape) * dt.dtype.itemsize != len(raw):
            raise SerializationError(f'ember.load: corrupt checkpoint: a NumPy array of shape {shape} does not match '
                                     f'its {len(raw)} bytes')
        arr = _np.frombuffer(raw, dt.dtype).reshape(shape, order='F' if fortran else 'C')
        self.array = arr.astype(dt.dtype.newbyteorder('='))


def _np_scalar(dtype, data):
    if not isinstance(dtype, _NpDtype) or not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise pickle.UnpicklingError('ember.load refused a NumPy scalar in the checkpoint: only number and bool '
                                     'scalars stored as raw bytes can be loaded')
    return _np.frombuffer(data, dtype.dtype).astype(dtype.dtype.newbyteorder('='))[0]


def _np_reconstruct(cls, shape, typecode):
    if not isinstance(cls, _TypeMarker) or cls.name != 'ndarray':
        raise pickle.UnpicklingError('ember.load refused a NumPy array subclass in the checkpoint')
    return _NpArrayBuilder()


def _replace_builders(obj, memo):
    """Put the NumPy arrays made at BUILD (and real dtypes and classes for the restricted unpickler's stand-ins) in
    the places that hold them: containers and the attributes of objects."""
    if isinstance(obj, _NpArrayBuilder):
        if obj.array is None:
            raise SerializationError('ember.load: corrupt file: a NumPy array without data')
        return obj.array
    if isinstance(obj, _NpDtype):
        return obj.dtype
    if isinstance(obj, _TypeMarker):
        return obj.resolve()
    if obj is None or isinstance(obj, (str, bytes, bytearray, int, float, complex, _np.ndarray, _np.generic, type,
                                       types.FunctionType, types.BuiltinFunctionType, types.ModuleType)):
        return obj
    done = memo.get(id(obj))
    if done is not None:
        return done[0]
    memo[id(obj)] = (obj,)
    if isinstance(obj, dict):
        _replace_values(obj, memo)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            new = _replace_builders(v, memo)
            if new is not v:
                obj[i] = new
    elif isinstance(obj, (tuple, set, frozenset)):
        items = [_replace_builders(v, memo) for v in obj]
        if any(a is not b for a, b in zip(items, obj)) and isinstance(obj, tuple):
            new = type(obj)._make(items) if hasattr(type(obj), '_make') else type(obj)(items)
            memo[id(obj)] = (new,)
            return new
        if any(a is not b for a, b in zip(items, obj)):
            if isinstance(obj, set):
                obj.clear()
                obj.update(items)
                return obj
            new = type(obj)(items)
            memo[id(obj)] = (new,)
            return new
    state = getattr(obj, '__dict__', None)
    if isinstance(state, dict):
        _replace_values(state, memo)
    return obj


def _replace_values(mapping, memo):
    """_replace_builders on each value of a dict, in place (a dict, or an object's __dict__)."""
    for k in list(mapping):
        v = mapping[k]
        new = _replace_builders(v, memo)
        if new is not v:
            mapping[k] = new


def _carrier(code):
    return _np.dtype('<u2' if code == 'bf16' else ('<' + code if code not in ('i1', 'u1', '?') else code))


def _as_ints(value, what):
    if not isinstance(value, (tuple, list)) or not all(type(v) is int for v in value):
        raise SerializationError(f'ember.load: corrupt checkpoint: tensor {what} {value!r} is not a tuple of ints')
    return tuple(value)


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


# ---- the restricted unpickler (weights_only=True) -------------------------------------------------------------
class _Dispatch(dict):
    """pickle's opcode table; an unknown opcode is an UnpicklingError (not a KeyError), as in the C unpickler."""

    def __missing__(self, key):
        raise pickle.UnpicklingError(f'invalid load key, {bytes([key])!r}.')


def _dunder(k):
    return type(k) is str and k.startswith('__') and k.endswith('__')


def _describe(obj):
    if isinstance(obj, type):
        return f'the class {obj.__module__}.{obj.__qualname__}'
    if isinstance(obj, types.ModuleType):
        return f'the module {obj.__name__}'
    return f'an object of type {type(obj).__module__}.{type(obj).__qualname__}'


class _RestrictedUnpickler(pickle._Unpickler):
    """Python's unpickler with the opcodes that act on objects held in check. pickle's BUILD sets state on whatever
    is on the stack - a class or a module a GLOBAL put there, a loader function - which would let a file rewrite
    classes for the rest of the process. Here BUILD only sets state on an object this load made itself (by calling a
    class or a tensor rebuild), and only when its type may be built: OrderedDict, tensors, parameters, ember's NumPy
    stand-ins and the classes the user allowlisted; never dunder attributes. NEWOBJ needs a class; EXT (the copyreg
    extension registry, with its process-wide cache) is refused."""
    dispatch = _Dispatch(pickle._Unpickler.dispatch)

    def _restrict(self, build_types, makers):
        from ._tensor import Tensor
        try:
            from .nn.parameter import Parameter
        except ImportError:
            Parameter = Tensor
        self._fresh = {}  # id -> object this load made (held, so that ids stay unique)
        self._makers = {id(m) for m in makers}  # callables whose results are new objects (tensor rebuilds)
        user = {g[0] if isinstance(g, tuple) else g for g in _user_safe_globals}
        self._build_types = frozenset(build_types) | {collections.OrderedDict, Tensor, Parameter} | {
            g for g in user if isinstance(g, type)}
        self._tensor_types = (Tensor, Parameter)

    def _made(self, obj):
        self._fresh[id(obj)] = obj

    def load_reduce(self):
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        if not isinstance(args, tuple):
            raise pickle.UnpicklingError(f'REDUCE arguments must be a tuple, not {type(args).__name__}')
        obj = func(*args)
        stack[-1] = obj
        if isinstance(func, type) or id(func) in self._makers:
            self._made(obj)
    dispatch[pickle.REDUCE[0]] = load_reduce

    def _new(self, cls, args, kwargs):
        if not isinstance(cls, type):
            raise pickle.UnpicklingError(f'NEWOBJ needs a class, not {_describe(cls)}')
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise pickle.UnpicklingError('NEWOBJ arguments must be a tuple and a dict')
        obj = cls.__new__(cls, *args, **kwargs)
        self.append(obj)
        self._made(obj)

    def load_newobj(self):
        args = self.stack.pop()
        self._new(self.stack.pop(), args, {})
    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        self._new(self.stack.pop(), args, kwargs)
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def _instantiate(self, klass, args):  # OBJ and INST
        super()._instantiate(klass, args)
        if isinstance(klass, type):
            self._made(self.stack[-1])

    def _refuse_ext(self):
        raise pickle.UnpicklingError('ember.load refused an EXT opcode (the copyreg extension registry) in the file')
    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse_ext
    del _op

    def load_build(self):
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if self._fresh.get(id(inst)) is not inst or type(inst) not in self._build_types:
            raise pickle.UnpicklingError(
                f'ember.load refused to set the state of {_describe(inst):.200} (BUILD): a checkpoint may only set the '
                f'state of objects it built itself, of types that can be loaded (tensors, parameters, OrderedDict, '
                f'or classes allowlisted with ember.serialization.add_safe_globals) - never of a class, a module, a '
                f'function or an object it did not make')
        slotstate = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slotstate = state
        for part in (state, slotstate):
            if isinstance(part, dict) and any(_dunder(k) or type(k) is not str for k in part):
                raise pickle.UnpicklingError(f'ember.load refused to set attributes {list(part)!r:.200} of '
                                             f'{_describe(inst):.100}: state names must be strings, not dunder names')
        if isinstance(inst, self._tensor_types):
            # a tensor's state is its Python attributes only (its data and autograd fields are slots, not state)
            if slotstate is not None or not isinstance(state, dict) or any(k.startswith('_') for k in state):
                raise pickle.UnpicklingError('ember.load refused a tensor state that is not a dict of public '
                                             'attribute names')
            inst.__dict__.update(state)
            return
        setstate = getattr(type(inst), '__setstate__', None)  # looked up on the class: an instance entry is data
        if setstate is not None:
            setstate(inst, state if slotstate is None else (state, slotstate))
            return
        if state:
            if not isinstance(state, dict):
                raise pickle.UnpicklingError(f'ember.load: BUILD state of {_describe(inst):.100} is not a dict')
            inst_dict = getattr(inst, '__dict__', None)
            if not isinstance(inst_dict, dict):
                raise pickle.UnpicklingError(f'ember.load: {_describe(inst):.100} has no attributes to set')
            for k, v in state.items():
                inst_dict[sys.intern(k)] = v
        if slotstate:
            if not isinstance(slotstate, dict):
                raise pickle.UnpicklingError(f'ember.load: BUILD slot state of {_describe(inst):.100} is not a dict')
            for k, v in slotstate.items():
                setattr(inst, k, v)
    dispatch[pickle.BUILD[0]] = load_build


class _TorchReader:
    """(Mixed into an unpickler) reads a torch.save data.pkl: tensor rebuilds, storages, containers and a few value types; with weights_only
    also the user's allowlisted globals and nothing else, so loading the checkpoint never runs code from the file.
    With weights_only=False other (non-PyTorch) globals are imported as pickle does; PyTorch's own classes never are
    (ember has none of them)."""

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
                from ._dtype import from_np
                return from_np(_carrier(code).newbyteorder('='))
            return _TorchDtype(name, code)
        if module == 'torch' and name.endswith('Storage'):
            raise SerializationError(f'ember.load: the checkpoint holds a torch.{name}, a storage type ember does '
                                     f'not support (supported element types: float16/32/64, bfloat16 (loaded as '
                                     f'float32), int8/16/32/64, uint8, bool)')
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
        from ._tensor import _wrap
        from .backends import cpu
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
        from ._dtype import dtype as _ember_dtype
        if isinstance(dtype, _ember_dtype):
            dtype = _TorchDtype(dtype.name, _TORCH_DTYPES[dtype.name])
        if not isinstance(dtype, _TorchDtype):
            raise SerializationError(f'ember.load: corrupt checkpoint: {dtype!r:.100} is not a torch dtype')
        if dtype.code is None:
            raise SerializationError(f'ember.load: the checkpoint holds a torch.{dtype.name} tensor; ember does '
                                     f'not support that dtype')
        return self._tensor(storage, storage_offset, size, stride, requires_grad, dtype.code)

    def rebuild_parameter(self, data, requires_grad, backward_hooks, state=None):
        from ._tensor import Tensor
        if not isinstance(data, Tensor):
            raise SerializationError('ember.load: corrupt checkpoint: a parameter rebuild got no tensor')
        try:
            from .nn.parameter import Parameter
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
        from ._tensor import Size
        return Size(_as_ints(tuple(dims), 'size'))

    device = staticmethod(lambda kind, index=None: _device_global(kind, index))


class _TorchUnpickler(_TorchReader, _RestrictedUnpickler):
    """A PyTorch data.pkl under weights_only=True."""


class _TrustingTorchUnpickler(_TorchReader, pickle.Unpickler):
    """A PyTorch data.pkl under weights_only=False (pickle's own unpickler: the user trusts the file)."""


def _device_global(kind, index=None):
    from .backends import device
    if not isinstance(kind, str) or (index is not None and (type(index) is not int or not 0 <= index < 1 << 16)):
        raise SerializationError(f'ember.load: corrupt file: bad device arguments {kind!r:.40}, {index!r:.40}')
    try:
        return device(kind, index)
    except RuntimeError:  # e.g. cuda without CuPy: keep the name
        return kind if index is None else f'{kind}:{index}'


def _codecs_encode(text, encoding='utf-8'):
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        raise pickle.UnpicklingError("ember.load refused '_codecs.encode' with arguments other than a string "
                                     "and 'latin1'")
    return text.encode('latin1')


def _dtype_by_name(name):
    from ._dtype import _BY_NAME
    if not isinstance(name, str) or name not in _BY_NAME:
        raise SerializationError(f'ember.load: corrupt file: unknown dtype {name!r:.60}')
    return _BY_NAME[name]


def _rebuild_sparse_checked(indices, values, shape, coalesced, requires_grad):
    """ember.sparse._rebuild_sparse for a restricted unpickler: the arguments are checked first."""
    from ._tensor import Tensor
    from .sparse import _rebuild_sparse
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


def _value_globals():
    """The globals a restricted unpickler allows for plain values (containers, numbers, NumPy numbers and arrays)."""
    return {
        ('collections', 'OrderedDict'): collections.OrderedDict, ('collections', 'Counter'): collections.Counter,
        ('builtins', 'set'): set, ('builtins', 'frozenset'): frozenset, ('builtins', 'slice'): slice,
        ('builtins', 'complex'): complex, ('builtins', 'bytearray'): bytearray,
        ('_codecs', 'encode'): _codecs_encode,
        ('numpy', 'dtype'): _NpDtype, ('numpy', 'ndarray'): _TypeMarker('ndarray'),
        ('numpy.core.multiarray', 'scalar'): _np_scalar, ('numpy._core.multiarray', 'scalar'): _np_scalar,
        ('numpy.core.multiarray', '_reconstruct'): _np_reconstruct,
        ('numpy._core.multiarray', '_reconstruct'): _np_reconstruct,
    }


# ---- weights_only: the user's allowlist ---------------------------------------------------------------------------
_user_safe_globals = []


def _global_names(g):
    if isinstance(g, tuple):
        return (g[1],)
    module = getattr(g, '__module__', None)
    return tuple({f'{module}.{getattr(g, "__qualname__", None)}', f'{module}.{getattr(g, "__name__", None)}'})


def add_safe_globals(safe_globals):
    """Allowlist classes and functions for ``ember.load(..., weights_only=True)``: a file may then rebuild instances
    of them (and call them). Each entry is the class/function itself, or a pair ``(obj, "module.name")`` for an
    object pickled under another name. Only allowlist what you trust: allowlisted code runs at load time."""
    if not isinstance(safe_globals, (list, tuple)):
        raise TypeError(f'add_safe_globals expects a list of classes/functions, not {type(safe_globals).__name__}')
    for g in safe_globals:
        if isinstance(g, tuple):
            if len(g) != 2 or not isinstance(g[1], str):
                raise TypeError(f'add_safe_globals: a tuple entry must be (obj, "module.name"), not {g!r:.100}')
        elif not (hasattr(g, '__module__') and hasattr(g, '__name__')):
            raise TypeError(f'add_safe_globals: {g!r:.100} is not a class or function (or an (obj, "module.name") '
                            f'pair)')
    for g in safe_globals:
        if not any(g is h or (isinstance(g, tuple) and g == h) for h in _user_safe_globals):
            _user_safe_globals.append(g)


def get_safe_globals():
    """The classes/functions allowlisted with add_safe_globals (a copy)."""
    return list(_user_safe_globals)


def clear_safe_globals():
    """Forget everything add_safe_globals allowlisted."""
    _user_safe_globals.clear()


class safe_globals:
    """``with ember.serialization.safe_globals([MyClass]): ember.load(f)`` allowlists ``MyClass`` inside the block
    only (the allowlist is restored on exit)."""

    def __init__(self, safe_globals):
        self.safe_globals = safe_globals
        self._saved = None

    def __enter__(self):
        self._saved = list(_user_safe_globals)
        add_safe_globals(self.safe_globals)
        return self

    def __exit__(self, *exc):
        _user_safe_globals[:] = self._saved
        return False


def _user_global(module, name):
    full = f'{module}.{name}'
    for g in reversed(_user_safe_globals):
        if full in _global_names(g):
            return g[0] if isinstance(g, tuple) else g
    return None


def _refused(module, name, where=''):
    full, short = f'{module}.{name}', name.rsplit('.', 1)[-1]
    return pickle.UnpicklingError(
        f"Weights only load failed: ember.load refused the global '{full}'{where}. With weights_only=True (the "
        f"default) ember.load rebuilds tensors, parameters, state dicts and plain containers and never runs code from "
        f"the file. Unsupported global: GLOBAL {full} was not an allowed global by default. If you trust this "
        f"class/function, allowlist it with ember.serialization.add_safe_globals([{short}]) or the "
        f"ember.serialization.safe_globals([{short}]) context manager; or, only if you trust the whole file, load it "
        f"with weights_only=False (unpickling an untrusted file can run arbitrary code).")


# ---- loading ember's pickle format --------------------------------------------------------------------------------
class _EmberReader:
    """(Mixed into an unpickler) reads the data.pkl of ember's pickle format. weights_only: tensors, parameters, containers, ember values and
    the user's allowlisted globals only; otherwise any global (the user trusts the file)."""

    def __init__(self, data, archive, archive_size, place, budget, weights_only):
        super().__init__(io.BytesIO(data))
        self.data, self.budget = data, budget
        self.archive, self.archive_size, self.place, self.weights_only = archive, archive_size, place, weights_only
        self.arrays = {}
        self.allowed = {('ember.serialization', '_rebuild_pickled_tensor'): self.rebuild}
        if weights_only:
            from ._tensor import Size
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
            self._restrict({_NpDtype, _NpArrayBuilder}, [self.allowed[('ember.serialization', '_rebuild_pickled_tensor')],
                                                          _np_reconstruct, _rebuild_sparse_checked])

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


def _read_member(archive, archive_size, name, expected, budget):
    """The bytes (writable) of archive member ``name``, which must hold exactly ``expected`` bytes."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise SerializationError(f"ember.load: corrupt file: '{name}' is missing from the archive") from None
    if info.file_size != expected:
        raise SerializationError(f"ember.load: corrupt file: '{name}' should hold {expected} bytes but the archive "
                                 f"member holds {info.file_size} bytes")
    limit = archive_size if info.compress_type == zipfile.ZIP_STORED else info.compress_size * 1100
    if info.file_size > limit:
        raise SerializationError(f"ember.load: corrupt file: '{name}' declares {info.file_size} bytes, more than the "
                                 f"archive ({archive_size} bytes) can hold")
    budget.take(expected, f"'{name:.100}'")
    buf = bytearray(expected)
    view, got = memoryview(buf), 0
    try:
        with archive.open(info) as member:
            while got < expected:  # in chunks: zipfile's readinto reads into a temporary bytes object of that size
                n = member.readinto(view[got:got + _READ_CHUNK])
                if not n:
                    break
                got += n
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise SerializationError(f"ember.load: file is truncated or corrupt: cannot read '{name}' ({e})") from None
    if got != expected:
        raise SerializationError(f"ember.load: file is truncated: '{name}' has {got} of its {expected} bytes")
    return buf


def _read_pickle(archive, name, budget):
    info = archive.getinfo(name)
    if info.file_size > _MAX_PICKLE or (info.compress_type != zipfile.ZIP_STORED
                                        and info.file_size > info.compress_size * 1100):
        raise SerializationError(f'ember.load: corrupt file: data.pkl declares {info.file_size} bytes')
    budget.take(info.file_size, 'data.pkl')
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise SerializationError(f'ember.load: file is truncated or corrupt: cannot read data.pkl ({e})') from None


def _open_zip(fh):
    try:
        return zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise SerializationError(f'ember.load: file is truncated or corrupt: not a readable zip archive (a PyTorch '
                                 f'checkpoint and ember\'s pickle format are zip archives) ({e})') from None


def _zip_unpickler(archive, size, place, weights_only, budget):
    """The unpickler for an open zip archive: ember's pickle format or a PyTorch checkpoint."""
    names = archive.namelist()
    if _ZIP_MARKER in names:
        magic = archive.read(_ZIP_MARKER)
        if magic != _ZIP_MAGIC:
            raise SerializationError(f'ember.load: the file is in a pickle format this ember does not read '
                                     f'({magic[:40]!r}; written by a newer ember?)')
        if _ZIP_PREFIX + 'data.pkl' not in names:
            raise SerializationError('ember.load: corrupt file: ember/data.pkl is missing from the archive')
        cls = _EmberUnpickler if weights_only else _TrustingEmberUnpickler
        return cls(_read_pickle(archive, _ZIP_PREFIX + 'data.pkl', budget), archive, size, place, budget,
                   weights_only)
    pkls = [n for n in names if n.endswith('/data.pkl') and n.count('/') == 1]
    if len(pkls) != 1:
        raise SerializationError('ember.load: a zip archive without exactly one <name>/data.pkl is not a '
                                 'PyTorch checkpoint written by torch.save')
    prefix = pkls[0][:-len('data.pkl')]
    byteorder = 'little'
    if prefix + 'byteorder' in names:
        byteorder = archive.read(prefix + 'byteorder').decode('ascii', 'replace').strip()
        if byteorder not in ('little', 'big'):
            raise SerializationError(f'ember.load: corrupt checkpoint: byteorder {byteorder!r:.60}')
    cls = _TorchUnpickler if weights_only else _TrustingTorchUnpickler
    return cls(_read_pickle(archive, pkls[0], budget), archive, size, prefix, byteorder, place, budget, weights_only)


def _load_zip(fh, place, weights_only, budget):
    size = _file_size(fh)
    with _open_zip(fh) as archive:
        unpickler = _zip_unpickler(archive, size, place, weights_only, budget)
        if not weights_only:  # the user trusts the file: its own errors are its own
            return unpickler.load()
        return _replace_builders(unpickler.load(), {})


_TRUE_VALUES = ('1', 'y', 'yes', 'true')


def _env_flag(name):
    """A TORCH_FORCE_* variable read as PyTorch 2.13 reads it: true for 1, y, yes or true in any case, with nothing
    around it (' 1' and '1 ' are false)."""
    return os.environ.get(name, '0').lower() in _TRUE_VALUES


def _resolve_weights_only(weights_only, pickle_module):
    force = _env_flag('TORCH_FORCE_WEIGHTS_ONLY_LOAD')
    force_no = _env_flag('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
    if force and force_no:
        raise RuntimeError('Only one of TORCH_FORCE_WEIGHTS_ONLY_LOAD or TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD should be '
                           'set, but both were set.')
    if force:
        weights_only = True
    elif force_no and weights_only is None:
        warnings.warn('Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD detected: since weights_only was not '
                      'passed to ember.load, it loads with weights_only=False (unpickling can run arbitrary code; '
                      'do it only for files you trust).', UserWarning, stacklevel=3)
        weights_only = False
    if weights_only is None:
        weights_only = pickle_module is None
    if weights_only and pickle_module is not None:
        raise RuntimeError('ember.load: can not safely load weights when an explicit pickle_module is specified; '
                           'pass weights_only=False to load with it (only for files you trust)')
    return bool(weights_only)


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Load what ember.save wrote, a plain safetensors file, or a PyTorch ``torch.save`` checkpoint.

    - ember's safetensors files come back as saved (dict key types, tuples, OrderedDict order, dtypes, 0-d tensors);
      plain safetensors files (e.g. from ``safetensors.torch.save_file``) as a dict of tensors. Nothing in them can
      run code, whatever ``weights_only`` says.
    - ember's pickle format (what ``ember.save`` writes for a whole model or other objects) and PyTorch ``.pt``/
      ``.pth`` files (the zip format ``torch.save`` writes since PyTorch 1.6; read without PyTorch) are unpickled:

      * ``weights_only=True`` (the default, as in PyTorch): a restricted unpickler rebuilds tensors, parameters,
        state dicts and containers of plain values (dict, OrderedDict, Counter, list, tuple, set, numbers,
        strings, bytes, NumPy numbers and arrays), plus the classes/functions allowlisted with
        ``ember.serialization.add_safe_globals`` / ``safe_globals``; any other global is refused with
        ``pickle.UnpicklingError`` naming it, before anything runs.
      * ``weights_only=False``: any global is imported and called, as ``pickle.load`` does - only for files you
        trust. The environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 makes a call that does not pass
        ``weights_only`` load this way; TORCH_FORCE_WEIGHTS_ONLY_LOAD=1 forces ``weights_only=True`` everywhere.
        Passing ``pickle_module`` without ``weights_only`` means ``weights_only=False`` (with ``weights_only=True``
        it is an error); the module itself is not used.
      * PyTorch's own classes (a whole pickled ``torch.nn`` model) cannot be unpickled in either mode: ember has
        none of them; load the file in PyTorch and save its ``state_dict()``.

      In PyTorch files tensors that are views of one storage share its memory after loading, as in PyTorch
      (expanded, stride-0 views are read-only, as ember's own expanded tensors); bfloat16 storages are widened,
      exactly, to float32; complex, float8 and uint16/32/64 tensors are refused; the legacy pre-1.6 format is
      refused. Plain pickle files are never unpickled. A crafted file cannot change a class: state is only ever set
      on objects the file built, of the types listed above.
    - ``map_location``: None (the saved device), a device or string (everything there), a dict mapping saved
      location strings ('cuda:1') to new ones, or a callable ``fn(tensor, location)`` returning the tensor to use
      (it gets a cpu tensor, not a storage) or None for the default. It applies to every tensor, pickled ones too.

    ``mmap`` and other pickle arguments are ignored. Damaged or crafted files raise ``SerializationError`` (a
    RuntimeError) naming the problem, or ``pickle.UnpicklingError`` for what weights_only refuses. A load allocates
    at most a memory budget for tensor and array data (by default twice the file's size plus 1 GiB; see
    ``ember.serialization.set_load_memory_budget``) and refuses a file that needs more before allocating it.
    """
    weights_only = _resolve_weights_only(weights_only, pickle_module)
    place = _placer(map_location)
    if isinstance(f, (str, bytes, os.PathLike)):
        with open(os.fsdecode(f), 'rb') as fh:
            return _load_fileobj(fh, place, weights_only)
    if not hasattr(f, 'read'):
        raise TypeError(f'ember.load: f must be a path or a readable binary file object, not {type(f).__name__}')
    seekable = getattr(f, 'seekable', None)
    if seekable is None or not seekable():
        f = io.BytesIO(f.read())
    return _load_fileobj(f, place, weights_only)


def _load_fileobj(fh, place, weights_only):
    start = fh.tell()
    head = fh.read(len(_LEGACY_MAGIC))
    fh.seek(start)
    if not head:
        raise SerializationError('ember.load: the file is empty')
    if head.startswith(_LEGACY_MAGIC):
        raise SerializationError('ember.load: this is a PyTorch checkpoint in the legacy (pre-1.6, non-zip) '
                                 'torch.save format, which ember does not read. Load it in PyTorch and save it '
                                 'again with torch.save(obj, f) (the zip format) or safetensors.')
    size = _file_size(fh)
    budget = _Budget(size)
    is_zip = head.startswith(b'PK\x03\x04')
    if is_zip and not weights_only:  # the user trusts the file: its own errors are its own
        return _load_zip(fh, place, weights_only, budget)
    # Everything else reads an untrusted file: whatever goes wrong inside is the file's fault and comes out as
    # SerializationError (or pickle.UnpicklingError for what the allowlist refuses), never as a bare ValueError,
    # TypeError, OverflowError or MemoryError from NumPy or Python; the user's map_location errors pass unchanged.
    try:
        if is_zip:
            return _load_zip(fh, place, weights_only, budget)
        try:
            return _load_safetensors(fh, size, place, budget)
        except SerializationError as e:
            if head[:1] == b'\x80':
                raise SerializationError(f'{e}. The file starts like a Python pickle: ember.load does not unpickle '
                                         f'plain pickle files (with any weights_only)') from None
            raise
    except (pickle.UnpicklingError, SerializationError):
        raise
    except _UserError as e:
        raise e.error
    except RecursionError:
        raise SerializationError('ember.load: corrupt file: its contents are nested too deeply') from None
    except MemoryError:
        raise SerializationError('ember.load: corrupt file: reading it ran out of memory') from None
    except Exception as e:
        raise SerializationError(f'ember.load: corrupt file: it could not be read ({type(e).__name__}: '
                                 f'{str(e):.300})') from None


def _pickle_globals(data):
    """The (module, name) globals a pickle refers to, found by reading its opcodes (nothing is unpickled)."""
    found, memo, tail = [], {}, []
    strings = ('SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'UNICODE', 'SHORT_BINSTRING', 'BINSTRING', 'STRING')
    try:
        for op, arg, _ in pickletools.genops(data):
            n = op.name
            if n in ('GLOBAL', 'INST'):
                found.append(tuple(arg.split(' ', 1)))
                tail.append(None)
            elif n == 'STACK_GLOBAL':
                pair = tail[-2:]
                found.append(tuple(pair) if len(pair) == 2 and all(isinstance(x, str) for x in pair)
                             else ('<unknown>', '<unknown>'))
                tail[-2:] = [None]
            elif n == 'MEMOIZE':
                memo[len(memo)] = tail[-1] if tail else None
            elif n in ('PUT', 'BINPUT', 'LONG_BINPUT'):
                memo[arg] = tail[-1] if tail else None
            elif n in ('GET', 'BINGET', 'LONG_BINGET'):
                tail.append(memo.get(arg))
            elif n in strings:
                tail.append(arg)
            elif n not in ('PROTO', 'FRAME', 'STOP'):
                tail.append(None)
            del tail[:-4]
    except ValueError as e:
        raise SerializationError(f'ember.load: corrupt file: data.pkl is not a valid pickle ({e})') from None
    return list(dict.fromkeys(found))


def get_unsafe_globals_in_checkpoint(f):
    """The globals ("module.name") in the pickle of an ember or PyTorch checkpoint that ``ember.load`` with
    ``weights_only=True`` would refuse (neither allowed by default nor allowlisted); nothing in the file runs.
    safetensors files hold no pickle: []."""
    if isinstance(f, (str, bytes, os.PathLike)):
        with open(os.fsdecode(f), 'rb') as fh:
            return get_unsafe_globals_in_checkpoint(fh)
    seekable = getattr(f, 'seekable', None)
    if seekable is None or not seekable():
        f = io.BytesIO(f.read())
    start = f.tell()
    head = f.read(4)
    f.seek(start)
    if not head.startswith(b'PK\x03\x04'):
        return []
    size = _file_size(f)
    with _open_zip(f) as archive:
        unpickler = _zip_unpickler(archive, size, _placer(None), True, _Budget(size))
        unsafe = []
        for module, name in _pickle_globals(unpickler.data):
            try:
                unpickler.find_class(module, name)
            except (pickle.UnpicklingError, SerializationError):
                unsafe.append(f'{module}.{name}')
        return unsafe


def _rebuild_tensor(array, device, requires_grad):
    """Unpickling target for tensors sent between processes (DataLoader workers)."""
    from ._tensor import _wrap
    from .backends import get_device
    t = _wrap(array, get_device('cpu'))
    if device != 'cpu':
        t = t.to(device)
    t.requires_grad = requires_grad
    return t
