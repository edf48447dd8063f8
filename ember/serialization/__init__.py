"""ember.save / ember.load: safetensors+JSON for tensors and containers, a pickle zip for other objects; safe loads."""
# The formats, one module each:
#   _safetensors    ember.save's default: one safetensors file, the Python structure around the tensors as JSON
#   _pickle_format  ember.save of other objects (modules, optimizers, user classes): a zip of a pickle + raw arrays
#   _torch_format   reading PyTorch's torch.save zip checkpoints (without PyTorch)
#   _restricted     the weights_only unpickler both pickle readers use, and the user's allowlist
#   _atomic         atomic file writes; _common: errors, the memory budget of a load, map_location, zip reading
#
# Anything the JSON structure cannot express (a whole nn.Module, an optimizer, a user's class instance, a named tuple,
# a tensor subclass, a dict keyed by tensors, a complex NumPy array...) is pickled instead, as torch.save does, into a
# zip archive (ZIP_STORED): ember/ember_format (a marker), ember/data.pkl (the pickle) and ember/data/<key> (the raw
# bytes of each NumPy array and tensor; the pickle refers to them by persistent id, so no tensor bytes are inside it).
# ember.load reads such a pickle, and the data.pkl of PyTorch checkpoints, with weights_only=True (the default) through
# a restricted unpickler: it rebuilds tensors, parameters and plain containers, and any other global only if the user
# allowlisted it (add_safe_globals / safe_globals); everything else is refused with pickle.UnpicklingError before it
# can run. weights_only=False unpickles everything: the user's explicit choice to trust the file.
import io
import os
import pickle
import pickletools
import warnings

from ._common import (
    SerializationError, _Budget, _NeedsPickle, _UserError, _file_size, _open_zip, _placer, _read_pickle,
    get_load_memory_budget, set_load_memory_budget)
from ._atomic import _atomic_write
from ._safetensors import _load_safetensors, _serialize, _write
from ._restricted import _replace_builders, add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals
from ._pickle_format import _rebuild_pickled_tensor  # noqa: F401 (pickles name it ember.serialization.*)
from ._pickle_format import (
    DEFAULT_PROTOCOL, _EmberUnpickler, _PICKLE_PROTOCOL, _TrustingEmberUnpickler, _ZIP_MAGIC, _ZIP_MARKER,
    _ZIP_PREFIX, _pickle_archive)
from ._torch_format import _LEGACY_MAGIC, _TorchUnpickler, _TrustingTorchUnpickler

__all__ = ['save', 'load', 'SerializationError', 'add_safe_globals', 'get_safe_globals', 'clear_safe_globals',
           'safe_globals', 'get_unsafe_globals_in_checkpoint', 'DEFAULT_PROTOCOL', 'set_load_memory_budget',
           'get_load_memory_budget']


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
      exactly, to float32; complex32, float8 and uint16/32/64 tensors are refused; the legacy pre-1.6 format is
      refused. Plain pickle files are never unpickled. A crafted file cannot change a class: state is only ever set
      on objects the file built, of the types listed above.
    - ``map_location``: None (the saved device), a device or string (everything there), a dict mapping saved
      location strings ('cuda:1') to new ones, or a callable ``fn(tensor, location)`` returning the tensor to use
      (it gets a cpu tensor, not a storage) or None for the default. It applies to every tensor, pickled ones too.

    ``mmap`` and other pickle arguments are ignored. Damaged or crafted files raise ``SerializationError`` (a
    RuntimeError) naming the problem, or ``pickle.UnpicklingError`` for what weights_only refuses. A load allocates
    at most a memory budget for tensor and array data (by default 3 x the file's size + 1 GiB; see
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
    from .._tensor import _wrap
    from ..backends import get_device
    t = _wrap(array, get_device('cpu'))
    if device != 'cpu':
        t = t.to(device)
    t.requires_grad = requires_grad
    return t
