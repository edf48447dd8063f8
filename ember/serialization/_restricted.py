"""The weights_only unpickler: the allowlist, BUILD/REDUCE/NEWOBJ held in check, safe stand-ins for globals."""
import collections
import math
import pickle
import sys
import types

import numpy as _np

from ._common import SerializationError, _as_ints


class _TypeMarker:
    """A class global a restricted unpickler hands out instead of the class (so the file cannot call it)."""

    def __init__(self, name):
        self.name = name

    def resolve(self):
        if self.name == 'Tensor':
            from .._tensor import Tensor
            return Tensor
        if self.name == 'Parameter':
            try:
                from ..nn.parameter import Parameter
                return Parameter
            except ImportError:
                from .._tensor import Tensor
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


_getrefcount = getattr(sys, 'getrefcount', None)


class _RestrictedUnpickler(pickle._Unpickler):
    """Python's unpickler with the opcodes that act on objects held in check. pickle's BUILD sets state on whatever
    is on the stack - a class or a module a GLOBAL put there, a loader function - which would let a file rewrite
    classes for the rest of the process. Here BUILD only sets state on an object this load made itself (by calling a
    class or a tensor rebuild), and only when its type may be built: OrderedDict, tensors, parameters, ember's NumPy
    stand-ins and the classes the user allowlisted; never dunder attributes. NEWOBJ needs a class; EXT (the copyreg
    extension registry, with its process-wide cache) is refused."""
    dispatch = _Dispatch(pickle._Unpickler.dispatch)

    def _restrict(self, build_types, makers):
        from .._tensor import Tensor
        try:
            from ..nn.parameter import Parameter
        except ImportError:
            Parameter = Tensor
        self._fresh = {}  # id -> object this load made (held, so that ids stay unique)
        self._makers = {id(m) for m in makers}  # callables whose results are new objects (tensor rebuilds)
        user = {g[0] if isinstance(g, tuple) else g for g in _user_safe_globals}
        self._build_types = frozenset(build_types) | {collections.OrderedDict, Tensor, Parameter} | {
            g for g in user if isinstance(g, type)}
        self._tensor_types = (Tensor, Parameter)

    def _made(self, obj, refs):
        # Only an object nothing else refers to yet is new: a class whose constructor hands out a shared instance
        # (a cached or singleton one) does not make the file its builder. refs: the references the caller holds;
        # CPython's count adds this function's argument and getrefcount's (elsewhere the call itself is trusted).
        if _getrefcount is None or _getrefcount(obj) <= refs + 2:
            self._fresh[id(obj)] = obj

    def load_reduce(self):
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        if not isinstance(args, tuple):
            raise pickle.UnpicklingError(f'REDUCE arguments must be a tuple, not {type(args).__name__}')
        obj = func(*args)
        if isinstance(func, type) or id(func) in self._makers:
            self._made(obj, 1)
        stack[-1] = obj
    dispatch[pickle.REDUCE[0]] = load_reduce

    def _new(self, cls, args, kwargs):
        if not isinstance(cls, type):
            raise pickle.UnpicklingError(f'NEWOBJ needs a class, not {_describe(cls)}')
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise pickle.UnpicklingError('NEWOBJ arguments must be a tuple and a dict')
        obj = cls.__new__(cls, *args, **kwargs)
        self._made(obj, 1)
        self.append(obj)

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
            self._made(self.stack[-1], 1)  # (the stack's reference)

    def load_bytearray8(self):
        # pickle makes bytearray(n) for the n bytes an opcode declares before reading them: checked against the
        # pickle's size first, so a few bytes of file cannot allocate n
        n = int.from_bytes(self.read(8), 'little')
        if n > len(getattr(self, 'data', b'')):
            raise pickle.UnpicklingError(f'ember.load: corrupt file: a BYTEARRAY8 opcode declares {n} bytes, more than '
                                         f'the pickle holds')
        b = bytearray(n)
        if self.readinto(b) != n:
            raise pickle.UnpicklingError('ember.load: corrupt file: the pickle is truncated')
        self.append(b)
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

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


def _device_global(kind, index=None):
    from ..backends import device
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
    from .._dtype import _BY_NAME
    if not isinstance(name, str) or name not in _BY_NAME:
        raise SerializationError(f'ember.load: corrupt file: unknown dtype {name!r:.60}')
    return _BY_NAME[name]


def _bytearray(source=b'', encoding=None, errors=None):
    """``bytearray`` for a restricted unpickler: from the bytes or string (and encoding) a pickle stores, never
    ``bytearray(n)``, which would let a few bytes of file allocate n bytes."""
    if isinstance(source, (bytes, bytearray)) and encoding is None and errors is None:
        return bytearray(source)
    if isinstance(source, str) and isinstance(encoding, str) and (errors is None or isinstance(errors, str)):
        return bytearray(source, encoding, *(() if errors is None else (errors,)))
    raise pickle.UnpicklingError(f'ember.load refused bytearray({type(source).__name__}): only bytearrays of bytes or '
                                 f'of an encoded string are loaded')


def _value_globals():
    """The globals a restricted unpickler allows for plain values (containers, numbers, NumPy numbers and arrays)."""
    return {
        ('collections', 'OrderedDict'): collections.OrderedDict, ('collections', 'Counter'): collections.Counter,
        ('builtins', 'set'): set, ('builtins', 'frozenset'): frozenset, ('builtins', 'slice'): slice,
        ('builtins', 'complex'): complex, ('builtins', 'bytearray'): _bytearray,
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
