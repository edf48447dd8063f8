"""ember.save / ember.load: round trips, atomic writes, map_location, safetensors and PyTorch interop, hostile files."""
import collections
import io
import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest

import ember
from ember.serialization import SerializationError

from conftest import torch, needs_torch


def _roundtrip(obj, **kw):
    buf = io.BytesIO()
    ember.save(obj, buf)
    buf.seek(0)
    return ember.load(buf, **kw)


def _same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, ember.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        assert np.array_equal(a.detach().numpy(), b.detach().numpy(), equal_nan=True)
    elif isinstance(a, dict):
        assert list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b]
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    else:
        assert a == b


# ---- ember round trips --------------------------------------------------------------------------------------
def test_tensors_of_every_dtype_and_shape():
    data = {
        'f32': ember.randn(3, 4), 'f64': ember.randn(2, dtype=ember.float64), 'f16': ember.ones(5, dtype=ember.half),
        'i8': ember.tensor([-3, 4], dtype=ember.int8), 'i16': ember.tensor([7], dtype=ember.int16),
        'i32': ember.arange(6, dtype=ember.int32).reshape(2, 3), 'i64': ember.tensor([2 ** 40, -1]),
        'u8': ember.tensor([0, 255], dtype=ember.uint8), 'bool': ember.tensor([True, False, True]),
        'scalar': ember.tensor(3.5), 'int_scalar': ember.tensor(7), 'empty': ember.zeros(0, 3),
        'view': ember.arange(12.).reshape(3, 4).t(), 'grad': ember.ones(2, requires_grad=True),
    }
    out = _roundtrip(data)
    _same(data, out)
    assert out['scalar'].shape == () and out['view'].tolist() == data['view'].tolist()
    out['f32'].add_(1)  # loaded tensors own writable memory


def test_nested_structures_keep_key_types_tuples_and_order():
    sd = collections.OrderedDict([('z', ember.ones(1)), ('a', ember.zeros(2))])
    sd._metadata = collections.OrderedDict([('', {'version': 1})])
    opt = {'state': {0: {'step': ember.tensor(3.0), 'exp_avg': ember.randn(2, 2)}, 1: {}},
           'param_groups': [{'lr': 1e-3, 'betas': (0.9, 0.999), 'eps': 1e-8, 'weight_decay': 0, 'amsgrad': False,
                             'foreach': None, 'maximize': False, 'params': [0, 1], 'name': 'main'}]}
    obj = {'model': sd, 'optim': opt, 'epoch': 7, 'loss': float('nan'), 'best': float('-inf'), 'flags': [True, None],
           (1, 'k'): 'tuple key', 2.5: 'float key', None: 'none key', 'shape': ember.Size([2, 3]),
           'dtype': ember.float16, 'device': ember.device('cpu'), 'raw': b'\x00\xff', 'set': {1, 2},
           'np': np.arange(3, dtype=np.int16), 'np_scalar': np.float32(1.5), 'np_int': np.int64(4),
           'nested': [[], {}, ()], 'big': 2 ** 70}
    out = _roundtrip(obj)
    _same({k: v for k, v in obj.items() if k not in ('set', 'np_scalar', 'np_int')},
          {k: v for k, v in out.items() if k not in ('set', 'np_scalar', 'np_int')})
    assert list(out['model']) == ['z', 'a'] and isinstance(out['model'], collections.OrderedDict)
    assert out['model']._metadata == {'': {'version': 1}}
    assert out['optim']['param_groups'][0]['betas'] == (0.9, 0.999)
    assert list(out['optim']['state']) == [0, 1]
    assert out['set'] == {1, 2} and out['np_scalar'] == np.float32(1.5) and type(out['np_scalar']) is np.float32
    assert type(out['np_int']) is np.int64 and isinstance(out['shape'], ember.Size)


def test_top_level_values():
    _same(_roundtrip(ember.arange(5)), ember.arange(5))
    assert _roundtrip([1, 'a', None]) == [1, 'a', None]
    assert _roundtrip(3) == 3 and _roundtrip(None) is None
    p = ember.nn.Parameter(ember.ones(2))
    q = _roundtrip({'p': p})['p']
    assert isinstance(q, ember.nn.Parameter) and q.requires_grad


def test_paths_file_objects_and_streams(tmp_path):
    obj = {'w': ember.randn(3)}
    ember.save(obj, str(tmp_path / 'a.pt'))
    ember.save(obj, tmp_path / 'b.pt')
    _same(ember.load(tmp_path / 'a.pt'), obj)
    _same(ember.load(str(tmp_path / 'b.pt')), obj)
    with open(tmp_path / 'c.pt', 'wb') as fh:
        ember.save(obj, fh)
    with open(tmp_path / 'c.pt', 'rb') as fh:
        _same(ember.load(fh), obj)

    class Stream(io.RawIOBase):  # not seekable
        def __init__(self, data):
            self.inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.inner.readinto(b)

    _same(ember.load(Stream((tmp_path / 'c.pt').read_bytes())), obj)
    assert sorted(os.listdir(tmp_path)) == ['a.pt', 'b.pt', 'c.pt']


Pair = collections.namedtuple('Pair', 'x y')


def test_other_objects_are_pickled_and_need_allowlisting():
    """What the JSON structure cannot express is pickled (as torch.save does); weights_only loading refuses it unless
    allowlisted (tests/test_checkpoint_pickle.py covers the pickle format in depth)."""
    class Local:
        pass
    with pytest.raises((pickle.PicklingError, AttributeError)):  # unpicklable, as with torch.save
        _roundtrip({'a': [Local()]})
    buf = io.BytesIO()
    ember.save({'p': Pair(1, 2), 'k': {ember.ones(1): 1}}, buf)
    assert buf.getvalue().startswith(b'PK')
    with pytest.raises(pickle.UnpicklingError, match=r"refused the global 'test_serialization\.Pair'"):
        ember.load(io.BytesIO(buf.getvalue()))
    with ember.serialization.safe_globals([Pair]):
        out = ember.load(io.BytesIO(buf.getvalue()))
    assert out['p'] == Pair(1, 2) and type(out['p']) is Pair and list(out['k'].values()) == [1]


def test_ember_model_round_trip(tmp_path):
    nn = ember.nn
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if hasattr(ember.optim, 'SGD') else None
    if opt is not None:
        model(ember.randn(5, 4)).sum().backward()
        opt.step()
    ckpt = {'model': model.state_dict(), 'optim': opt.state_dict() if opt is not None else None}
    ember.save(ckpt, tmp_path / 'ckpt.pt')
    loaded = ember.load(tmp_path / 'ckpt.pt')
    fresh = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    fresh.load_state_dict(loaded['model'])
    x = ember.randn(2, 4)
    assert np.array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())
    if opt is not None:
        _same(loaded['optim'], opt.state_dict())


# ---- atomic writes ------------------------------------------------------------------------------------------
def test_crash_during_save_keeps_previous_file(tmp_path, monkeypatch):
    import ember.serialization as ser
    path = tmp_path / 'model.pt'
    ember.save({'w': ember.zeros(1000)}, path)
    before = path.read_bytes()
    calls = []

    def failing(fh, arr):
        calls.append(1)
        fh.write(arr.reshape(-1).view(np.uint8).data[:10])
        raise OSError('disk full (simulated)')

    monkeypatch.setattr(ser._atomic, '_write_array', failing)
    with pytest.raises(OSError, match='disk full'):
        ember.save({'w': ember.ones(1000), 'v': ember.ones(3)}, path)
    assert calls and path.read_bytes() == before
    assert os.listdir(tmp_path) == ['model.pt']  # the temporary file is gone
    assert ember.load(path)['w'].sum().item() == 0


def test_save_keeps_file_mode(tmp_path):
    path = tmp_path / 'm.pt'
    ember.save({'a': ember.ones(1)}, path)
    os.chmod(path, 0o640)
    ember.save({'a': ember.zeros(1)}, path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    with pytest.raises(FileNotFoundError):
        ember.save({}, tmp_path / 'missing_dir' / 'x.pt')


# ---- map_location ---------------------------------------------------------------------------------------------
def _rewrite(data, edit):
    """Apply ``edit`` to the parsed JSON header of safetensors bytes and rebuild the file."""
    n = int.from_bytes(data[:8], 'little')
    header = json.loads(data[8:8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, 'little') + raw + data[8 + n:]


def _edit_structure(data, edit):
    def ed(header):
        meta = json.loads(header['__metadata__']['ember'])
        edit(meta)
        header['__metadata__']['ember'] = json.dumps(meta)
    return _rewrite(data, ed)


def _saved(obj):
    buf = io.BytesIO()
    ember.save(obj, buf)
    return buf.getvalue()


def test_map_location_forms():
    data = _saved({'w': ember.ones(2)})
    for loc in ('cpu', ember.device('cpu'), {'cpu': 'cpu'}, None):
        out = ember.load(io.BytesIO(data), map_location=loc)['w']
        assert out.device == ember.device('cpu') and out.tolist() == [1.0, 1.0]
    seen = []

    def fn(t, location):
        seen.append(location)
        return t * 2
    assert ember.load(io.BytesIO(data), map_location=fn)['w'].tolist() == [2.0, 2.0] and seen == ['cpu']
    assert ember.load(io.BytesIO(data), map_location=lambda t, loc: None)['w'].tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match='map_location'):
        ember.load(io.BytesIO(data), map_location=3)


def test_cuda_saved_tensor_needs_map_location_without_gpu():
    def to_cuda(meta):
        meta['structure']['v'][0][1]['dev'] = 'cuda:1'
    data = _edit_structure(_saved({'w': ember.ones(2)}), to_cuda)
    out = ember.load(io.BytesIO(data), map_location='cpu')['w']
    assert out.device == ember.device('cpu')
    out = ember.load(io.BytesIO(data), map_location={'cuda:1': 'cpu'})['w']
    assert out.device == ember.device('cpu')
    try:
        import cupy  # noqa: F401
        return
    except ImportError:
        pass
    with pytest.raises(RuntimeError, match="saved on 'cuda:1'.*map_location='cpu'"):
        ember.load(io.BytesIO(data))


# ---- damaged and crafted ember/safetensors files ------------------------------------------------------------
def _fails(data, pattern):
    with pytest.raises(SerializationError, match=pattern):
        ember.load(io.BytesIO(data))


def test_truncated_and_bad_headers():
    good = _saved({'w': ember.arange(10.), 'b': ember.ones(3)})
    _fails(b'', 'empty')
    _fails(good[:5], 'truncated')
    _fails(good[:-4], 'truncated')
    _fails(good[:40], 'bad header')  # the header itself is cut
    _fails((10 ** 12).to_bytes(8, 'little') + b'{}', 'declares a 1000000000000-byte JSON header')
    _fails((5).to_bytes(8, 'little') + b'nope!', 'does not parse')
    _fails((2).to_bytes(8, 'little') + b'[]', 'not an object')
    assert issubclass(SerializationError, RuntimeError)


def test_crafted_headers():
    good = _saved({'w': ember.arange(10.), 'b': ember.ones(3)})

    def entry(change):
        def ed(h):
            change(h['w'])
        return _rewrite(good, ed)
    _fails(entry(lambda e: e.update(dtype='X9')), "unknown dtype 'X9'")
    _fails(entry(lambda e: e.update(dtype='C128')), 'does not support')
    _fails(entry(lambda e: e.update(shape=[10 ** 9])), 'needs 4000000000 bytes')
    _fails(entry(lambda e: e.update(shape=[-1])), 'invalid shape')
    _fails(entry(lambda e: e.update(data_offsets=[0, 10 ** 12], shape=[25 * 10 ** 10])), 'truncated')
    _fails(entry(lambda e: e.update(data_offsets=[8, 4])), 'invalid data_offsets')
    _fails(entry(lambda e: e.update(extra=1)), 'exactly dtype, shape and data_offsets')
    _fails(_rewrite(good, lambda h: h['__metadata__'].update(ember=5)), 'map strings to strings')
    _fails(_rewrite(good, lambda h: h['__metadata__'].update(ember='{')), 'not valid JSON')
    _fails(_edit_structure(good, lambda m: m.update(structure={'$': 'evil'})), "unknown tag 'evil'")
    _fails(_edit_structure(good, lambda m: m.update(structure={'$': 'tensor', 'k': 'nope'})), "tensor 'nope'")
    _fails(_edit_structure(good, lambda m: m.update(version=99)), 'newer ember')
    deep = '[' * 100000 + ']' * 100000
    _fails(_rewrite(good, lambda h: h['__metadata__'].update(ember='{"version":1,"structure":' + deep + '}')),
           'nested too deeply|not valid JSON')


def test_plain_pickle_is_not_unpickled(tmp_path):
    marker = tmp_path / 'pwned'

    class Evil:
        def __reduce__(self):
            return os.system, (f'touch {marker}',)
    for weights_only in (True, False):
        with pytest.raises(SerializationError, match='pickle'):
            ember.load(io.BytesIO(pickle.dumps(Evil())), weights_only=weights_only)
    assert not marker.exists()


# ---- safetensors interop ---------------------------------------------------------------------------------------
def test_plain_safetensors_file_loads_as_flat_dict(tmp_path):
    safetensors_numpy = pytest.importorskip('safetensors.numpy')
    arrays = {'a': np.arange(6, dtype=np.float32).reshape(2, 3), 'b': np.array([True, False]),
              'c': np.array(5, dtype=np.int64), 'd': np.zeros((0, 2), dtype=np.float16)}
    safetensors_numpy.save_file(arrays, str(tmp_path / 'x.safetensors'), metadata={'format': 'np'})
    out = ember.load(tmp_path / 'x.safetensors')
    assert sorted(out) == ['a', 'b', 'c', 'd']
    for k, v in arrays.items():
        assert out[k].numpy().dtype == v.dtype and np.array_equal(out[k].numpy(), v)
    # and ember's files read back with the safetensors package
    ember.save({k: ember.tensor(v) for k, v in arrays.items()}, tmp_path / 'e.safetensors')
    back = safetensors_numpy.load_file(str(tmp_path / 'e.safetensors'))
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v)


@needs_torch
def test_ember_state_dict_loads_in_pytorch(tmp_path):
    load_file = pytest.importorskip('safetensors.torch').load_file
    sd = ember.nn.Linear(4, 3).state_dict()
    sd['steps'] = ember.tensor(5)
    sd['mask'] = ember.tensor([True, False])
    ember.save(sd, tmp_path / 'm.safetensors')
    theirs = load_file(str(tmp_path / 'm.safetensors'))
    assert list(theirs) == list(sd)
    for k in sd:
        assert np.array_equal(theirs[k].numpy(), sd[k].numpy()) and theirs[k].shape == tuple(sd[k].shape)
    lin = torch.nn.Linear(4, 3)
    lin.load_state_dict({k: theirs[k] for k in ('weight', 'bias')})


@needs_torch
def test_pytorch_safetensors_loads_in_ember(tmp_path):
    save_file = pytest.importorskip('safetensors.torch').save_file
    lin = torch.nn.Linear(4, 3)
    sd = {k: v.detach().contiguous() for k, v in lin.state_dict().items()}
    sd['half'] = torch.ones(2, dtype=torch.float16)
    sd['bf16'] = torch.tensor([1.5, -2.0, 3.140625], dtype=torch.bfloat16)
    save_file(sd, str(tmp_path / 't.safetensors'))
    out = ember.load(tmp_path / 't.safetensors')
    assert set(out) == set(sd)
    assert out['bf16'].dtype == ember.float32 and out['bf16'].tolist() == [1.5, -2.0, 3.140625]
    assert out['half'].dtype == ember.float16
    model = ember.nn.Linear(4, 3)
    model.load_state_dict({'weight': out['weight'], 'bias': out['bias']})
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    assert np.allclose(model(ember.tensor(x)).detach().numpy(), lin(torch.tensor(x)).detach().numpy(), atol=1e-6)


# ---- PyTorch .pt checkpoints written by PyTorch -----------------------------------------------------------------
@needs_torch
def test_pytorch_state_dict_checkpoint(tmp_path):
    lin = torch.nn.Linear(5, 3)
    torch.save(lin.state_dict(), tmp_path / 'lin.pth')
    sd = ember.load(tmp_path / 'lin.pth')
    assert isinstance(sd, collections.OrderedDict) and list(sd) == ['weight', 'bias']
    assert sd._metadata == {'': {'version': 1}}
    model = ember.nn.Linear(5, 3)
    model.load_state_dict(sd)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    assert np.allclose(model(ember.tensor(x)).detach().numpy(), lin(torch.tensor(x)).detach().numpy(), atol=1e-6)


@needs_torch
def test_pytorch_optimizer_checkpoint(tmp_path):
    lin = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(lin.parameters(), lr=0.01)
    lin(torch.randn(4, 3)).sum().backward()
    opt.step()
    torch.save({'epoch': 3, 'model': lin.state_dict(), 'optim': opt.state_dict(), 'best': (0.5, [1, 2])},
               tmp_path / 'ckpt.pt')
    out = ember.load(tmp_path / 'ckpt.pt')
    ref = opt.state_dict()
    assert out['epoch'] == 3 and out['best'] == (0.5, [1, 2])
    assert list(out['optim']['state']) == [0, 1]
    for i in (0, 1):
        for k, v in ref['state'][i].items():
            assert np.array_equal(out['optim']['state'][i][k].numpy(), v.numpy()), k
            assert out['optim']['state'][i][k].shape == tuple(v.shape)
    group = out['optim']['param_groups'][0]
    assert group['betas'] == (0.9, 0.999) and group['params'] == [0, 1] and group['lr'] == 0.01
    # resume training in ember from the PyTorch checkpoint: the next Adam step matches PyTorch's
    model = ember.nn.Linear(3, 2)
    model.load_state_dict(out['model'])
    eopt = ember.optim.Adam(model.parameters(), lr=0.5)
    eopt.load_state_dict(out['optim'])
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    opt.zero_grad()
    lin(torch.tensor(x)).pow(2).sum().backward()
    opt.step()
    eopt.zero_grad()
    model(ember.tensor(x)).pow(2).sum().backward()
    eopt.step()
    assert np.allclose(model.weight.detach().numpy(), lin.weight.detach().numpy(), atol=1e-6)
    assert np.allclose(model.bias.detach().numpy(), lin.bias.detach().numpy(), atol=1e-6)


@needs_torch
def test_pytorch_views_dtypes_and_values(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    objs = {
        'slice': base[1:, ::2], 'transposed': base.t(), 'narrow': base.view(-1)[5:9], 'expand': torch.ones(1, 3)
        .expand(4, 3), 'base': base, 'scalar': torch.tensor(2.5), 'empty': torch.zeros(0, 2),
        'f16': torch.ones(3, dtype=torch.float16) / 3, 'f64': torch.randn(2, dtype=torch.float64),
        'bf16': torch.tensor([1.0, -0.5, 3.140625], dtype=torch.bfloat16),
        'i8': torch.tensor([-5, 3], dtype=torch.int8),
        'i16': torch.tensor([300], dtype=torch.int16), 'i32': torch.tensor([1 << 20], dtype=torch.int32),
        'i64': torch.tensor([1 << 40]), 'u8': torch.tensor([255, 0], dtype=torch.uint8),
        'bool': torch.tensor([True, False]), 'param': torch.nn.Parameter(torch.ones(2)),
        'size': torch.Size([2, 3]), 'dtype': torch.float16, 'np': np.float64(0.25), 'arr': np.arange(4),
        'bytes': b'\x00\x01', 'set': {3, 4},
    }
    torch.save(objs, tmp_path / 'v.pt')
    out = ember.load(tmp_path / 'v.pt')
    for k, v in objs.items():
        if isinstance(v, torch.Tensor):
            want = v.detach().float().numpy() if v.dtype == torch.bfloat16 else v.detach().numpy()
            got = out[k].detach().numpy()
            assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want), k
    assert isinstance(out['param'], ember.nn.Parameter) and out['param'].requires_grad
    assert out['size'] == (2, 3) and isinstance(out['size'], ember.Size)
    assert out['dtype'] is ember.float16 and out['np'] == 0.25 and np.array_equal(out['arr'], np.arange(4))
    assert out['bytes'] == b'\x00\x01' and out['set'] == {3, 4}
    # views of one storage share memory after loading, as in PyTorch: writing through one shows in the others
    ref = torch.load(tmp_path / 'v.pt', weights_only=False)
    ref['slice'].add_(1)
    out['slice'].add_(1)
    assert out['base'][1, 0].item() == ref['base'][1, 0].item() == 7.0
    assert np.array_equal(out['transposed'].numpy(), ref['transposed'].numpy())
    with pytest.raises(RuntimeError, match='more than one element'):  # expanded (stride 0) views refuse in-place
        out['expand'].add_(1)


@needs_torch
def test_pytorch_unsupported_contents_are_refused(tmp_path):
    torch.save({'u16': torch.zeros(2, dtype=torch.uint16)}, tmp_path / 'u16.pt')
    with pytest.raises(SerializationError, match='uint16'):
        ember.load(tmp_path / 'u16.pt')
    torch.save({'c': torch.zeros(2, dtype=torch.complex32)}, tmp_path / 'c.pt')
    with pytest.raises(SerializationError, match='complex32'):
        ember.load(tmp_path / 'c.pt')
    torch.save(torch.nn.Linear(2, 2), tmp_path / 'model.pt')
    with pytest.raises(pickle.UnpicklingError, match=r"refused the global 'torch\.nn\.modules\.linear\.Linear'"):
        ember.load(tmp_path / 'model.pt')
    torch.save({'a': torch.ones(2)}, tmp_path / 'legacy.pt', _use_new_zipfile_serialization=False)
    with pytest.raises(SerializationError, match='legacy'):
        ember.load(tmp_path / 'legacy.pt')


@needs_torch
def test_truncated_pytorch_checkpoint(tmp_path):
    torch.save({'w': torch.randn(100)}, tmp_path / 'full.pt')
    data = (tmp_path / 'full.pt').read_bytes()
    for cut in (len(data) // 3, len(data) - 30, 100):
        with pytest.raises(SerializationError, match='truncated|corrupt'):
            ember.load(io.BytesIO(data[:cut]))


# ---- crafted PyTorch checkpoints (no PyTorch needed) -----------------------------------------------------------
def _s(text):
    raw = text.encode()
    return b'X' + len(raw).to_bytes(4, 'little') + raw


def _i(n):
    return b'\x8a' + bytes([len(pickle.encode_long(n))]) + pickle.encode_long(n) if n else b'K\x00'


def _g(module, name):
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def _ints(values):
    return b'(' + b''.join(_i(v) for v in values) + b't'


def _tensor(key, numel, offset, size, stride, storage='FloatStorage'):
    pid = b'(' + _s('storage') + _g('torch', storage) + _s(key) + _s('cpu') + _i(numel) + b't' + b'Q'
    return (_g('torch._utils', '_rebuild_tensor_v2') + b'(' + pid + _i(offset) + _ints(size) + _ints(stride)
            + b'\x89' + _g('collections', 'OrderedDict') + b')R' + b't' + b'R')


def _pickle(body):
    return b'\x80\x02' + body + b'.'


def _dict(**items):
    return b'}(' + b''.join(_s(k) + v for k, v in items.items()) + b'u'


def _checkpoint(path, pkl, storages=None, byteorder='little'):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', pkl)
        z.writestr('archive/byteorder', byteorder)
        for key, raw in (storages or {}).items():
            z.writestr(f'archive/data/{key}', raw)
        z.writestr('archive/version', '3\n')
    return path


def test_crafted_checkpoint_sanity(tmp_path):
    """The hand-written checkpoints below are well-formed when nothing is wrong with them."""
    flat = np.arange(12, dtype='<f4')
    pkl = _pickle(_dict(w=_tensor('0', 12, 1, (2, 3), (4, 1)), t=_tensor('0', 12, 0, (3,), (4,))))
    out = ember.load(_checkpoint(tmp_path / 'ok.pt', pkl, {'0': flat.tobytes()}))
    assert out['w'].tolist() == [[1, 2, 3], [5, 6, 7]] and out['t'].tolist() == [0, 4, 8]
    big = ember.load(_checkpoint(tmp_path / 'big.pt', pkl, {'0': flat.astype('>f4').tobytes()}, byteorder='big'))
    assert big['w'].tolist() == [[1, 2, 3], [5, 6, 7]] and big['w'].dtype == ember.float32


@pytest.mark.parametrize('module,name', [('os', 'system'), ('posix', 'system'), ('builtins', 'eval'),
                                         ('__builtin__', 'exec'), ('subprocess', 'check_call'),
                                         ('builtins', 'getattr')])
def test_crafted_checkpoint_cannot_run_code(tmp_path, module, name):
    marker = tmp_path / 'pwned'
    arg = f'open({str(marker)!r}, "w")' if name in ('eval', 'exec') else f'touch {marker}'
    call = _g(module, name) + b'(' + _s(arg) + b'tR'
    if name == 'check_call':
        call = _g(module, name) + b'(' + b'(' + _s('touch') + _s(str(marker)) + b'l' + b'tR'
    path = _checkpoint(tmp_path / 'evil.pt', _pickle(_dict(x=call)))
    with pytest.raises(pickle.UnpicklingError, match=rf"refused the global '{module}\.{name}'"):
        ember.load(path)
    assert not marker.exists()


def test_crafted_checkpoint_bad_storages(tmp_path):
    flat = np.arange(4, dtype='<f4').tobytes()
    cases = [
        (_tensor('9', 4, 0, (4,), (1,)), {'0': flat}, 'missing'),
        (_tensor('0', 10 ** 12, 0, (4,), (1,)), {'0': flat}, 'should hold 1000000000000 elements'),
        (_tensor('0', 4, 0, (10 ** 9,), (1,)), {'0': flat}, 'reaches element'),
        (_tensor('0', 4, 3, (2,), (1,)), {'0': flat}, 'reaches element'),
        (_tensor('0', 4, 0, (4,), (1,), storage='EvilStorage'), {'0': flat}, 'does not support'),
        (_tensor('0', 4, 0, (2, 2), (1,)), {'0': flat}, 'do not match'),
    ]
    for i, (body, storages, pattern) in enumerate(cases):
        path = _checkpoint(tmp_path / f'bad{i}.pt', _pickle(_dict(w=body)), storages)
        with pytest.raises(SerializationError, match=pattern):
            ember.load(path)
    # a 10**12-element stride-0 view of 4 floats loads as a view (no copy), read-only as ember's expanded tensors
    path = _checkpoint(tmp_path / 'expanded.pt', _pickle(_dict(w=_tensor('0', 4, 0, (10 ** 6, 10 ** 6), (0, 0)))),
                       {'0': flat})
    w = ember.load(path)['w']
    assert w.shape == (10 ** 6, 10 ** 6) and w.numpy().strides == (0, 0) and w[5, 7].item() == 0.0
    with pytest.raises(RuntimeError, match='more than one element'):
        w.add_(1)


def test_crafted_checkpoint_huge_declared_member(tmp_path):
    """A storage whose zip entry claims 4 GB in a tiny archive is refused before anything is read."""
    path = _checkpoint(tmp_path / 'huge.pt', _pickle(_dict(w=_tensor('0', 2 ** 32 - 1, 0, (4,), (1,), 'ByteStorage'))),
                       {'0': b'1234'})
    data = bytearray(path.read_bytes())
    name = b'archive/data/0'
    central = data.rfind(b'PK\x01\x02', 0, data.rfind(name))
    data[central + 24:central + 28] = (2 ** 32 - 1).to_bytes(4, 'little')  # uncompressed size in the central record
    path.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match='more than the archive'):
        ember.load(path)


def test_crafted_zip_problems(tmp_path):
    with zipfile.ZipFile(tmp_path / 'nopkl.pt', 'w') as z:
        z.writestr('archive/other', b'x')
    with pytest.raises(SerializationError, match='data.pkl'):
        ember.load(tmp_path / 'nopkl.pt')
    garbage = _checkpoint(tmp_path / 'garbage.pt', b'\x80\x02not a pickle at all')
    with pytest.raises((SerializationError, pickle.UnpicklingError)):
        ember.load(garbage)
    flat = np.arange(4, dtype='<f4').tobytes()
    good = _checkpoint(tmp_path / 'good.pt', _pickle(_dict(w=_tensor('0', 4, 0, (4,), (1,)))), {'0': flat})
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        with pytest.raises(SerializationError, match='truncated|corrupt'):
            ember.load(io.BytesIO(data[:cut]))
    with pytest.raises(pickle.UnpicklingError, match='persistent id'):
        ember.load(_checkpoint(tmp_path / 'pid.pt', _pickle(_dict(w=_s('x') + b'Q'))))


# ---- checkpoints written by PyTorch 2.13, committed in tests/data (read without PyTorch) ------------------------
FIXTURES = os.path.join(os.path.dirname(__file__), 'data')


def _write_torch_fixtures(folder):
    """How tests/data/torch_*.pt were made (torch.save, PyTorch 2.13); exact small values."""
    lin = torch.nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(6.).reshape(2, 3) / 4)
        lin.bias.copy_(torch.tensor([0.5, -1.0]))
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    torch.save(lin.state_dict(), os.path.join(folder, 'torch_state_dict.pt'))
    torch.save({'epoch': 2, 'model': lin.state_dict(),
                'optim': {'state': {0: {'step': torch.tensor(1.0), 'exp_avg': torch.full((2, 3), 0.25)},
                                    1: {'step': torch.tensor(1.0), 'exp_avg': torch.full((2,), -0.5)}},
                          'param_groups': [{'lr': 0.01, 'betas': (0.9, 0.999), 'params': [0, 1]}]}},
               os.path.join(folder, 'torch_checkpoint.pt'))
    torch.save({'slice': base[1:, ::2], 't': base.t(), 'tail': base.view(-1)[20:],
                'bf16': torch.tensor([1.0, -0.5, 3.140625], dtype=torch.bfloat16),
                'half': torch.tensor([0.5, 2.0], dtype=torch.float16), 'i64': torch.tensor([1 << 40, -3]),
                'bool': torch.tensor([True, False]), 'u8': torch.tensor([255, 7], dtype=torch.uint8),
                'scalar': torch.tensor(1.5, dtype=torch.float64)}, os.path.join(folder, 'torch_views.pt'))


def _check_torch_fixtures(folder):
    weight = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    sd = ember.load(os.path.join(folder, 'torch_state_dict.pt'))
    assert isinstance(sd, collections.OrderedDict) and list(sd) == ['weight', 'bias']
    assert np.array_equal(sd['weight'].numpy(), weight) and sd['bias'].tolist() == [0.5, -1.0]
    model = ember.nn.Linear(3, 2)
    model.load_state_dict(sd)
    assert model(ember.ones(1, 3)).tolist() == [[0.75 + 0.5, 3.0 - 1.0]]

    ck = ember.load(os.path.join(folder, 'torch_checkpoint.pt'))
    assert ck['epoch'] == 2 and list(ck['optim']['state']) == [0, 1]
    assert ck['optim']['state'][0]['step'].shape == () and ck['optim']['state'][0]['step'].item() == 1.0
    assert ck['optim']['state'][1]['exp_avg'].tolist() == [-0.5, -0.5]
    assert ck['optim']['param_groups'] == [{'lr': 0.01, 'betas': (0.9, 0.999), 'params': [0, 1]}]

    v = ember.load(os.path.join(folder, 'torch_views.pt'))
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    assert np.array_equal(v['slice'].numpy(), base[1:, ::2]) and np.array_equal(v['t'].numpy(), base.T)
    assert v['tail'].tolist() == [20, 21, 22, 23]
    assert v['bf16'].dtype == ember.float32 and v['bf16'].tolist() == [1.0, -0.5, 3.140625]
    assert v['half'].dtype == ember.float16 and v['half'].tolist() == [0.5, 2.0]
    assert v['i64'].tolist() == [1 << 40, -3] and v['bool'].tolist() == [True, False]
    assert v['u8'].dtype == ember.uint8 and v['u8'].tolist() == [255, 7]
    assert v['scalar'].dtype == ember.float64 and v['scalar'].shape == () and v['scalar'].item() == 1.5


def test_committed_pytorch_checkpoints_load_without_pytorch():
    _check_torch_fixtures(FIXTURES)


@needs_torch
def test_committed_pytorch_checkpoints_match_a_fresh_pytorch(tmp_path):
    _write_torch_fixtures(str(tmp_path))
    _check_torch_fixtures(str(tmp_path))
