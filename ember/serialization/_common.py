"""What ember.save/load's formats share: SerializationError, the memory budget, shape checks, map_location, zips."""
import io
import math
import zipfile

import numpy as _np


class SerializationError(RuntimeError):
    """A file ember.load cannot read: truncated, corrupt, crafted, or holding something ember does not support."""


class _NeedsPickle(Exception):
    """Raised by the JSON encoder for an object its tagged JSON cannot express: the pickle format is used instead."""


_MAX_PICKLE = 1 << 30  # refuse a data.pkl claiming more than 1 GiB
_READ_CHUNK = 1 << 22  # bytes read from a zip member at a time
_MAX_DIMS = 64 if int(_np.__version__.split('.')[0]) >= 2 else 32  # NumPy's limit on an array's dimensions


# ---- the memory budget of one load --------------------------------------------------------------------------------
# A load allocates memory for the data of the tensors and arrays it reads (storages, bfloat16 widening, byte swaps,
# NumPy arrays in pickles). An honest file needs about its own size (three times it for bfloat16: the bytes and their
# float32 widening); a crafted one can claim far more (compressed members, members sharing bytes, overlapping views),
# so every allocation is counted against a budget first and a load that would go over it is refused before
# allocating.
_DEFAULT_BUDGET_SLACK = 1 << 30
_budget_setting = [None]


def set_load_memory_budget(nbytes):
    """Cap the bytes of tensor and array data one ``ember.load`` may allocate; ``None`` restores the default (three
    times the file's size plus 1 GiB). A file that needs more is refused with ``SerializationError`` before it
    allocates."""
    if nbytes is not None and (type(nbytes) is not int or nbytes < 0):
        raise TypeError(f'set_load_memory_budget expects a non-negative int number of bytes or None, not {nbytes!r}')
    _budget_setting[0] = nbytes


def get_load_memory_budget():
    """The cap set with ``set_load_memory_budget`` (None: the default, 3 x the file's size + 1 GiB)."""
    return _budget_setting[0]


class _Budget:
    """The bytes one load may still allocate."""

    def __init__(self, file_size):
        setting = _budget_setting[0]
        self.limit = 3 * max(file_size, 0) + _DEFAULT_BUDGET_SLACK if setting is None else setting
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


def _as_ints(value, what):
    if not isinstance(value, (tuple, list)) or not all(type(v) is int for v in value):
        raise SerializationError(f'ember.load: corrupt checkpoint: tensor {what} {value!r} is not a tuple of ints')
    return tuple(value)


def _carrier(code):
    return _np.dtype('<u2' if code == 'bf16' else ('<' + code if code not in ('i1', 'u1', '?') else code))


def _bf16_to_f32(raw_u16):
    return (raw_u16.astype('<u4') << 16).view('<f4').astype(_np.float32)


# ---- the pickle format (objects the JSON structure cannot express) ------------------------------------------------
def _raw_array_dtype(dt):
    """Whether NumPy dtype ``dt`` is stored as raw bytes (numbers and bool; never objects, records or strings)."""
    return dt.kind in 'biufc' and dt.fields is None and dt.subdtype is None and not dt.hasobject


# ---- saving -------------------------------------------------------------------------------------------------------
def _tensor_types():
    from .._tensor import Tensor
    try:
        from ..nn.parameter import Parameter
    except Exception:  # ember.nn not importable: plain tensors only
        Parameter = ()
    return Tensor, Parameter


# ---- placing loaded tensors (map_location) ---------------------------------------------------------------------
class _UserError(Exception):
    """Carries an exception raised by the user's map_location callable past the checks that turn everything else a
    load raises into SerializationError."""

    def __init__(self, error):
        super().__init__(error)
        self.error = error


def _placer(map_location):
    """A function (cpu tensor, saved location string) -> tensor on the device map_location asks for."""
    from ..backends import device as _device_cls

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
