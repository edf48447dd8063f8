"""ember's safetensors format: tensors as safetensors, the Python structure around them as tagged JSON."""
import base64
import collections
import json
import math

import numpy as _np

from ._common import SerializationError, _NeedsPickle, _bf16_to_f32, _check_shape, _read_exact, _tensor_types
from . import _atomic


# ember.save writes one safetensors file (https://github.com/huggingface/safetensors: an 8-byte little-endian
# header length, a JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian bytes).
# The Python structure around the tensors (dicts with int keys, tuples, OrderedDict order, numbers, strings...)
# is tagged JSON stored as a string in the header's __metadata__ under _META_KEY. The format is read and written
# here directly (it is a few dozen lines), so ember.save/load need only NumPy; the `safetensors` package reads the
# files (and ember reads its files) - the tests check both ways.

_META_KEY = 'ember'
_FORMAT_VERSION = 1
_MAX_HEADER = 100_000_000  # the safetensors package's own limit on the JSON header

_ST_TO_NP = {'F16': '<f2', 'F32': '<f4', 'F64': '<f8', 'I8': 'i1', 'I16': '<i2', 'I32': '<i4', 'I64': '<i8',
             'U8': 'u1', 'BOOL': '?', 'C64': '<c8'}
_NP_TO_ST = {_np.dtype(v).newbyteorder('='): k for k, v in _ST_TO_NP.items()}
_NP_SCALAR_TYPES = frozenset(_np.dtype(c).type
                             for c in ('?', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8'))
_UNSUPPORTED_ST = {'U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C128'}


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
        from .._dtype import dtype as _dtype_cls
        from ..backends import device as _device_cls
        from .._tensor import Size
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


def _write(fh, header, arrays):
    fh.write(len(header).to_bytes(8, 'little'))
    fh.write(header)
    for arr in arrays:
        _atomic._write_array(fh, arr)  # (looked up at the call: tests replace it to fail midway)


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
        from .._tensor import _wrap
        from ..backends import cpu
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
                    from ..nn.parameter import Parameter
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
            from .._tensor import Size
            v = node.get('v')
            if not isinstance(v, list) or not all(type(s) is int and 0 <= s < 1 << 63 for s in v):
                raise self.bad('size must be a list of non-negative ints')
            return Size(v)
        if tag == 'dtype':
            from .._dtype import _BY_NAME
            if node.get('v') not in _BY_NAME:
                raise self.bad(f"unknown dtype {node.get('v')!r}")
            return _BY_NAME[node['v']]
        if tag == 'device':
            from ..backends import device
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
    from .._tensor import _wrap
    from ..backends import cpu
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
