"""ember.save of whole objects (the pickle format) and ember.load's weights_only contract, hostile files included."""
import argparse
import builtins
import collections
import io
import os
import pickle
import subprocess
import warnings
import zipfile

import numpy as np
import pytest

import ember
import ember.serialization as ser
from ember.serialization import SerializationError

from conftest import torch, needs_torch

nn = ember.nn


# ---- module-level classes (pickle finds classes by name) --------------------------------------------------------
class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.bn = nn.BatchNorm1d(8)
        self.fc2 = nn.Linear(8, 3)
        self.register_buffer('scale', ember.tensor([2.0]))
        self.note = 'hello'

    def forward(self, x):
        return self.fc2(ember.relu(self.bn(self.fc1(x)))) * self.scale


class Config:
    def __init__(self, lr, layers):
        self.lr, self.layers = lr, layers

    def __eq__(self, other):
        return type(other) is Config and vars(self) == vars(other)


Pair = collections.namedtuple('Pair', 'first second')


class MyTensor(ember.Tensor):
    pass


def double_output(module, inputs, output):
    return output * 2


class SystemCall:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class EvalCall:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return builtins.eval, (self.code,)


class SubprocessCall:
    def __init__(self, argv):
        self.argv = argv

    def __reduce__(self):
        return subprocess.check_call, (self.argv,)


class MakeDir:  # the harmless payload used where code is meant to run (weights_only=False)
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


class CudaSaved:  # pickles as a tensor that was saved on 'cuda:1'
    def __reduce__(self):
        return ser._rebuild_pickled_tensor, (ember.Tensor, np.array([1.0, 2.0], np.float32), 'cuda:1', False, None)


class BadSparse:
    def __init__(self, indices, values, shape):
        self.args = (ember.tensor(indices), ember.tensor(values), shape, False, False)

    def __reduce__(self):
        import ember.sparse
        return ember.sparse._rebuild_sparse, self.args


pytestmark = pytest.mark.usefixtures('clean_load_settings')  # conftest.py: allowlist, env vars, budget restored


def _bytes(obj, **kw):
    buf = io.BytesIO()
    ember.save(obj, buf, **kw)
    return buf.getvalue()


def _load(data, **kw):
    return ember.load(io.BytesIO(data), **kw)


def _model():
    ember.manual_seed(0)
    model = TwoLayer()
    model(ember.randn(6, 4)).sum().backward()  # batch statistics move; grads exist
    model.eval()
    return model


MODEL_GLOBALS = [TwoLayer, nn.Linear, nn.BatchNorm1d]


# ---- whole models ------------------------------------------------------------------------------------------------
def test_whole_model_round_trip_with_weights_only_false(tmp_path):
    model = _model()
    model.register_forward_hook(double_output)
    ember.save(model, tmp_path / 'model.pt')
    assert zipfile.is_zipfile(tmp_path / 'model.pt')
    loaded = ember.load(tmp_path / 'model.pt', weights_only=False)
    assert type(loaded) is TwoLayer and loaded is not model and not loaded.training
    x = ember.randn(5, 4)
    assert np.array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    assert type(loaded.fc1.weight) is nn.Parameter and loaded.fc1.weight.requires_grad
    assert loaded.fc1.weight.grad is None  # gradients are not saved (as in PyTorch)
    assert type(loaded.bn.running_mean) is ember.Tensor and not loaded.bn.running_mean.requires_grad
    assert loaded.bn.num_batches_tracked.item() == 1 and loaded.scale.tolist() == [2.0] and loaded.note == 'hello'
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert list(loaded.state_dict()) == list(model.state_dict())
    assert len(loaded._forward_hooks) == 1  # the hook came back and runs (outputs equal above)
    loaded.fc1.weight.data.add_(1)  # loaded parameters own writable memory
    assert not np.array_equal(loaded.fc1.weight.detach().numpy(), model.fc1.weight.detach().numpy())


def test_whole_model_is_refused_by_default_and_loads_when_allowlisted():
    model = _model()
    data = _bytes(model)
    with pytest.raises(pickle.UnpicklingError) as info:
        _load(data)
    msg = str(info.value)
    assert f"'{TwoLayer.__module__}.TwoLayer'" in msg
    assert 'add_safe_globals([TwoLayer])' in msg and 'safe_globals([TwoLayer])' in msg and 'weights_only=False' in msg
    with pytest.raises(pickle.UnpicklingError, match=r'ember\.nn\.modules\.linear\.Linear'):
        with ser.safe_globals([TwoLayer]):  # every class must be allowlisted, not only the outer one
            _load(data)
    with ser.safe_globals(MODEL_GLOBALS):
        loaded = _load(data)
    x = ember.randn(3, 4)
    assert type(loaded) is TwoLayer and np.array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    assert ser.get_safe_globals() == []  # the context manager restored the allowlist
    ser.add_safe_globals(MODEL_GLOBALS)
    assert _load(data).note == 'hello'
    assert set(ser.get_safe_globals()) == set(MODEL_GLOBALS)
    ser.clear_safe_globals()
    with pytest.raises(pickle.UnpicklingError):
        _load(data)


def test_hooks_need_allowlisting_too():
    model = _model()
    model.register_forward_hook(double_output)
    data = _bytes(model)
    with pytest.raises(pickle.UnpicklingError, match='double_output'):
        with ser.safe_globals(MODEL_GLOBALS):
            _load(data)
    with ser.safe_globals(MODEL_GLOBALS + [double_output]):
        assert len(_load(data)._forward_hooks) == 1


def test_standard_modules_optimizers_and_tied_weights():
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    lstm = nn.LSTM(4, 5, num_layers=2, batch_first=True)
    model = nn.ModuleDict({'emb': emb, 'head': head, 'lstm': lstm, 'conv': nn.Conv2d(1, 2, 3)})
    opt = ember.optim.Adam(model.parameters(), lr=0.01)
    (emb(ember.tensor([[1, 2]])) ** 2).sum().backward()
    opt.step()
    out = _load(_bytes({'model': model, 'opt': opt, 'epoch': 3}), weights_only=False)
    m = out['model']
    assert m['emb'].weight is m['head'].weight  # shared objects stay shared
    assert out['opt'].param_groups[0]['params'][0] is m['emb'].weight
    assert out['epoch'] == 3
    x = ember.randn(2, 3, 4)
    assert np.array_equal(m['lstm'](x)[0].detach().numpy(), lstm(x)[0].detach().numpy())
    state = out['opt'].state_dict()['state']
    assert np.array_equal(state[0]['exp_avg'].numpy(), opt.state_dict()['state'][0]['exp_avg'].numpy())


@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
def test_pickle_protocols(protocol):
    obj = {'cfg': Config(0.1, [1, 2]), 'pair': Pair(ember.ones(2), b'\x00\xff'), 'size': ember.Size([2, 3]),
           'dtype': ember.float16, 'device': ember.device('cpu'), 'set': {1, 2}, 'np': np.int8(3),
           'counter': collections.Counter('aab'), 'ba': bytearray(b'xy'), 'c': 1 + 2j}
    with ser.safe_globals([Config, Pair]):
        out = _load(_bytes(obj, pickle_protocol=protocol))
    assert out['cfg'] == Config(0.1, [1, 2]) and type(out['pair']) is Pair and out['pair'].second == b'\x00\xff'
    assert out['pair'].first.tolist() == [1.0, 1.0] and isinstance(out['size'], ember.Size)
    assert out['dtype'] is ember.float16 and out['device'] == ember.device('cpu') and out['set'] == {1, 2}
    assert type(out['np']) is np.int8 and out['counter'] == collections.Counter('aab') and out['ba'] == b'xy'
    assert out['c'] == 1 + 2j
    with pytest.raises(ValueError, match='pickle_protocol'):
        ember.save(Config(1, 2), io.BytesIO(), pickle_protocol=1)


def test_allowlist_forms_and_checks():
    data = _bytes({'cfg': Config(1, 2)})
    ser.add_safe_globals([(Config, f'{Config.__module__}.Config')])
    assert _load(data)['cfg'] == Config(1, 2)
    ser.clear_safe_globals()
    ser.add_safe_globals([(Config, 'elsewhere.Config')])  # the pair names the global it stands for
    with pytest.raises(pickle.UnpicklingError, match='Config'):
        _load(data)
    with pytest.raises(TypeError):
        ser.add_safe_globals(Config)
    with pytest.raises(TypeError):
        ser.add_safe_globals(['os.system'])
    assert ser.get_unsafe_globals_in_checkpoint(io.BytesIO(data)) == [f'{Config.__module__}.Config']
    ser.add_safe_globals([Config])
    assert ser.get_unsafe_globals_in_checkpoint(io.BytesIO(data)) == []
    assert ser.get_unsafe_globals_in_checkpoint(io.BytesIO(_bytes({'w': ember.ones(1)}))) == []


def test_tensor_subclasses_and_tensor_attributes():
    t = MyTensor([1.0, 2.0])
    t.tag = 'kept'
    buf = nn.Buffer(ember.zeros(2), persistent=False)
    data = _bytes({'sub': t, 'buf': buf, 'key': {ember.ones(1): 'tensor key'}})
    with pytest.raises(pickle.UnpicklingError, match='MyTensor'):
        _load(data)
    with ser.safe_globals([MyTensor]):
        out = _load(data)
    assert type(out['sub']) is MyTensor and out['sub'].tolist() == [1.0, 2.0] and out['sub'].tag == 'kept'
    assert out['buf']._is_buffer and out['buf'].persistent is False
    (key, value), = out['key'].items()
    assert key.tolist() == [1.0] and value == 'tensor key'


def test_pickled_views_load_under_weights_only():
    """A view's autograd link to its base is not pickled (it named ember.ops internals, refused by weights_only)."""
    base = ember.arange(12.).reshape(3, 4)
    view = base[1:, ::2]
    view.note = 'kept'
    out = _load(_bytes({'c': collections.Counter('ab'), 'base': base, 'view': view}))
    assert out['view'].tolist() == [[4.0, 6.0], [8.0, 10.0]] and out['view'].note == 'kept'
    assert out['base'].tolist() == base.tolist() and not out['view']._is_view()


def test_map_location_applies_to_pickled_tensors():
    data = _bytes({'cfg': Config(1, 2), 'w': ember.ones(2), 'p': nn.Parameter(ember.zeros(3))})
    seen = []

    def fn(t, location):
        seen.append(location)
        return t + 1
    out = _load(data, weights_only=False, map_location=fn)
    assert sorted(seen) == ['cpu', 'cpu'] and out['w'].tolist() == [2.0, 2.0]
    assert type(out['p']) is nn.Parameter and out['p'].tolist() == [1.0, 1.0, 1.0] and out['p'].requires_grad
    for loc in ('cpu', ember.device('cpu'), {'cpu': 'cpu'}):
        assert _load(data, weights_only=False, map_location=loc)['w'].device == ember.device('cpu')
    cuda = _bytes([CudaSaved(), Config(1, 2)])
    assert ember.load(io.BytesIO(cuda), map_location='cpu', weights_only=False)[0].tolist() == [1.0, 2.0]
    assert ember.load(io.BytesIO(cuda), map_location={'cuda:1': 'cpu'}, weights_only=False)[0].device.type == 'cpu'
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="saved on 'cuda:1'.*map_location='cpu'"):
            ember.load(io.BytesIO(cuda), weights_only=False)


def test_sparse_tensors_load_by_default():
    s = ember.sparse_coo_tensor(ember.tensor([[0, 1, 1], [2, 0, 2]]), ember.tensor([3., 4., 5.]), (2, 3))
    h = ember.sparse_coo_tensor(ember.tensor([[0, 3]]), ember.randn(2, 3), (4, 3), requires_grad=True)
    out = _load(_bytes({'s': s, 'h': h}))
    assert out['s'].to_dense().tolist() == [[0.0, 0.0, 3.0], [4.0, 0.0, 5.0]]
    assert out['h'].shape == (4, 3) and out['h'].requires_grad and ember.equal(out['h'].to_dense(), h.to_dense())
    for indices, values, shape in [([[5]], [1.0], (2,)), ([[-1]], [1.0], (2,)), ([[0]], [1.0, 2.0], (2,)),
                                   ([[0]], [[1.0]], (2, 3))]:
        bad = _bytes([BadSparse(indices, values, shape)])
        with pytest.raises(SerializationError, match='do not fit'):
            _load(bad)


# ---- NumPy arrays, and what stays in the safetensors format ------------------------------------------------------
def _same_array(a, b):
    assert type(b) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


ARRAYS = {'f32': np.arange(6, dtype=np.float32).reshape(2, 3), 'i64': np.array([-1, 2 ** 40]), 'b': np.array([True]),
          'u8': np.zeros((0, 4), np.uint8), 'scalar': np.array(3.5), 'f16': np.ones(2, np.float16),
          'view': np.arange(12.).reshape(3, 4)[:, ::2]}


def test_numpy_arrays_in_the_safetensors_format():
    data = _bytes({'arrays': ARRAYS, 'nested': [ARRAYS['i64'], (ARRAYS['b'], {'deep': ARRAYS['f16']})]})
    assert not data.startswith(b'PK')  # tensors, arrays and containers stay safetensors + JSON
    out = _load(data)
    for k, v in ARRAYS.items():
        _same_array(v, out['arrays'][k])
    _same_array(ARRAYS['f16'], out['nested'][1][1]['deep'])
    out['arrays']['f32'] += 1  # writable


def test_numpy_arrays_in_the_pickle_format():
    extra = {'complex': np.array([1 + 2j, -3j], np.complex64),
             'fortran': np.asfortranarray(np.arange(6.).reshape(2, 3)),
             'big_endian': np.arange(3, dtype='>i4'), 'f64_scalar': np.float64(0.25), 'u16': np.array([7], np.uint16)}
    data = _bytes({'cfg': Config(1, 2), **ARRAYS, **extra})
    assert data.startswith(b'PK')
    with ser.safe_globals([Config]):
        out = _load(data)
    for k, v in {**ARRAYS, **extra}.items():
        if isinstance(v, np.ndarray):
            _same_array(v, out[k])
    assert out['fortran'].flags.f_contiguous and out['big_endian'].dtype.str == '>i4'
    assert type(out['f64_scalar']) is np.float64 and out['f64_scalar'] == 0.25
    shared = np.arange(3)
    a, b = _load(_bytes([shared, shared, Config(1, 2)]), weights_only=False)[:2]
    assert a is b
    objects = _bytes({'o': np.array([1, 'x'], dtype=object), 'cfg': Config(1, 2)})
    with pytest.raises(pickle.UnpicklingError, match='number and bool'):
        with ser.safe_globals([Config]):
            _load(objects)
    assert _load(objects, weights_only=False)['o'].tolist() == [1, 'x']


def test_optimizer_state_dict_and_nested_containers_stay_safetensors():
    model = nn.Linear(3, 2)
    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(ember.randn(4, 3)).sum().backward()
    opt.step()
    ckpt = {'model': model.state_dict(), 'optim': opt.state_dict(), 'rng': np.random.default_rng(0).random(3),
            'history': [{'epoch': 1, 'loss': np.float32(0.5)}, {'epoch': 2, 'loss': np.float32(0.25)}]}
    data = _bytes(ckpt)
    assert not data.startswith(b'PK')
    out = _load(data)
    assert out['optim']['param_groups'] == opt.state_dict()['param_groups']
    for i, state in opt.state_dict()['state'].items():
        assert np.array_equal(out['optim']['state'][i]['momentum_buffer'].numpy(), state['momentum_buffer'].numpy())
    _same_array(ckpt['rng'], out['rng'])
    assert out['history'][1]['loss'] == np.float32(0.25) and type(out['history'][1]['loss']) is np.float32


def test_reference_cycles_are_pickled():
    cyc = [ember.ones(1)]
    cyc.append(cyc)
    out = _load(_bytes(cyc))  # plain containers: loads with weights_only=True
    assert out[1] is out and out[0].tolist() == [1.0]


# ---- atomic writes -----------------------------------------------------------------------------------------------
def test_pickle_format_writes_atomically(tmp_path, monkeypatch):
    path = tmp_path / 'model.pt'
    ember.save(Config(1, 2), path)
    before = path.read_bytes()

    def failing(fh, arr):
        fh.write(arr.reshape(-1).view(np.uint8).data[:3])
        raise OSError('disk full (simulated)')
    monkeypatch.setattr(ser._atomic, '_write_array', failing)
    with pytest.raises(OSError, match='disk full'):
        ember.save({'cfg': Config(3, 4), 'w': ember.ones(100)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['model.pt']
    monkeypatch.undo()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        ember.save({'fn': lambda x: x, 'cfg': Config(1, 2)}, path)  # unpicklable, as in PyTorch
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['model.pt']
    assert _load(before, weights_only=False) == Config(1, 2)


# ---- weights_only resolution: environment variables, pickle_module ---------------------------------------------
def test_environment_variables(monkeypatch):
    data = _bytes(Config(1, 2))
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.warns(UserWarning, match='TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'):
        assert _load(data) == Config(1, 2)
    with pytest.raises(pickle.UnpicklingError):  # an explicit weights_only=True wins over it
        _load(data, weights_only=True)
    monkeypatch.setenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', 'true')
    with pytest.raises(RuntimeError, match='Only one of'):
        _load(data)
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
    with pytest.raises(pickle.UnpicklingError):  # forces weights_only even against an explicit False
        _load(data, weights_only=False)
    monkeypatch.setenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', '0')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert _load(data, weights_only=False) == Config(1, 2)


def test_pickle_module_argument():
    data = _bytes(Config(1, 2))
    assert _load(data, pickle_module=pickle) == Config(1, 2)  # as PyTorch: pickle_module alone means weights_only=False
    with pytest.raises(RuntimeError, match='pickle_module'):
        _load(data, pickle_module=pickle, weights_only=True)


# ---- hostile files -----------------------------------------------------------------------------------------------
def _ember_zip(pkl, arrays=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        z.writestr('ember/ember_format', b'ember-pickle 1\n')
        z.writestr('ember/data.pkl', pkl)
        for key, raw in (arrays or {}).items():
            z.writestr(f'ember/data/{key}', raw)
    return buf.getvalue()


def _payloads(marker):
    return {
        'os.system': (SystemCall(f'touch {marker}'), 'system'),
        'builtins.eval': (EvalCall(f'open({str(marker)!r}, "w").close()'), 'builtins.eval'),
        'subprocess': (SubprocessCall(['touch', str(marker)]), 'subprocess.check_call'),
    }


@pytest.mark.parametrize('kind', ['os.system', 'builtins.eval', 'subprocess'])
@pytest.mark.parametrize('how', ['ember.save', 'pickle2', 'pickle4', 'in_model'])
def test_malicious_pickle_is_refused_under_weights_only(tmp_path, kind, how):
    marker = tmp_path / 'pwned'
    payload, name = _payloads(marker)[kind]
    if how == 'ember.save':
        data = _bytes({'w': ember.ones(2), 'x': payload})
    elif how == 'in_model':
        model = _model()
        model.note = payload
        data = _bytes(model)
    else:
        data = _ember_zip(pickle.dumps({'x': payload}, protocol=int(how[-1])))
    with ser.safe_globals(MODEL_GLOBALS):
        with pytest.raises(pickle.UnpicklingError, match=rf"refused the global '[\w.]*{name.split('.')[-1]}'"):
            _load(data)
        assert name.split('.')[-1] in ' '.join(ser.get_unsafe_globals_in_checkpoint(io.BytesIO(data)))
    assert not marker.exists()


def test_malicious_pickle_runs_under_weights_only_false(tmp_path):
    """weights_only=False is the user's explicit choice to trust the file: like pickle.load (and torch.load), code in
    it runs. A harmless payload (os.mkdir) shows it."""
    marker = tmp_path / 'ran'
    data = _bytes({'w': ember.ones(2), 'x': MakeDir(str(marker))})
    with pytest.raises(pickle.UnpicklingError):
        _load(data)
    assert not marker.exists()
    out = _load(data, weights_only=False)
    assert marker.is_dir() and out['x'] is None and out['w'].tolist() == [1.0, 1.0]


def test_raw_opcodes_all_go_through_the_allowlist(tmp_path):
    marker = tmp_path / 'pwned'
    cmd = f'touch {marker}'.encode()
    bodies = {
        'GLOBAL+REDUCE': b'cos\nsystem\n(X' + len(cmd).to_bytes(4, 'little') + cmd + b'tR.',
        'INST': b'(X' + len(cmd).to_bytes(4, 'little') + cmd + b'ios\nsystem\n.',
        'OBJ': b'(cos\nsystem\nX' + len(cmd).to_bytes(4, 'little') + cmd + b'o.',
        'STACK_GLOBAL': b'\x80\x04\x8c\x02os\x8c\x06system\x93X' + len(cmd).to_bytes(4, 'little') + cmd + b'\x85R.',
    }
    for label, body in bodies.items():
        with pytest.raises(pickle.UnpicklingError, match=r"refused the global 'os\.system'"):
            _load(_ember_zip(body))
        assert not marker.exists(), label


def test_plain_pickles_are_never_unpickled(tmp_path):
    marker = tmp_path / 'ran'
    for wo in (True, False):
        with pytest.raises(SerializationError, match='pickle'):
            _load(pickle.dumps(MakeDir(str(marker))), weights_only=wo)
    assert not marker.exists()


def _pid_pickle(pid, cls=ember.Tensor):
    """A data.pkl calling the tensor rebuild with class ``cls`` on persistent id ``pid``."""
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return pid if isinstance(obj, str) and obj == 'ARRAY' else None

    class Rebuild:
        def __reduce__(self):
            return ser._rebuild_pickled_tensor, (cls, 'ARRAY', 'cpu', False, None)
    buf = io.BytesIO()
    P(buf, 4).dump(Rebuild())
    return buf.getvalue()


def test_crafted_array_records(tmp_path):
    raw = np.arange(4, dtype='<f4').tobytes()
    good = _ember_zip(_pid_pickle(('ember.ndarray', '0', '<f4', (4,), 'C')), {'0': raw})
    assert _load(good).tolist() == [0.0, 1.0, 2.0, 3.0]
    cases = [
        (('ember.ndarray', '0', '|O', (1,), 'C'), {'0': b'\x00' * 8}, 'number and bool'),
        (('ember.ndarray', '0', 'V4', (1,), 'C'), {'0': raw[:4]}, 'number and bool'),
        (('ember.ndarray', '0', '<f4', (-4,), 'C'), {'0': raw}, 'number and bool|shape'),
        (('ember.ndarray', '0', '<f4', (10 ** 12,), 'C'), {'0': raw}, 'should hold'),
        (('ember.ndarray', '9', '<f4', (4,), 'C'), {'0': raw}, 'missing'),
        (('ember.ndarray', '0', '<f4', (4,), 'Z'), {'0': raw}, 'bad array record'),
        (('ember.ndarray', '0', '<f16', (1,), 'C'), {'0': raw}, 'dtype ember supports'),  # (float128)
        (('storage', 'x'), {}, 'persistent id'),
    ]
    for pid, arrays, pattern in cases:
        with pytest.raises((SerializationError, pickle.UnpicklingError), match=pattern):
            _load(_ember_zip(_pid_pickle(pid), arrays))
    with pytest.raises(pickle.UnpicklingError, match='not a tensor class|refused'):
        _load(_ember_zip(_pid_pickle(('ember.ndarray', '0', '<f4', (4,), 'C'), collections.OrderedDict),
                         {'0': raw}))
    with pytest.raises(SerializationError, match='newer ember'):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w') as z:
            z.writestr('ember/ember_format', b'ember-pickle 9\n')
            z.writestr('ember/data.pkl', pickle.dumps(1))
        _load(buf.getvalue())
    data = _bytes({'cfg': Config(1, 2), 'w': ember.ones(50)})
    for cut in (20, len(data) // 2, len(data) - 10):
        with pytest.raises(SerializationError, match='truncated|corrupt'):
            _load(data[:cut], weights_only=False)


# ---- PyTorch files -----------------------------------------------------------------------------------------------
@needs_torch
def test_pytorch_whole_module_is_refused_in_both_modes(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / 'model.pt')
    for wo in (True, False):
        with pytest.raises(pickle.UnpicklingError, match=r"'torch\.nn\.modules\.linear\.Linear'.*cannot unpickle "
                                                         r"torch\.nn modules.*state_dict\(\)"):
            ember.load(tmp_path / 'model.pt', weights_only=wo)
    assert ser.get_unsafe_globals_in_checkpoint(tmp_path / 'model.pt') == ['torch.nn.modules.linear.Linear']


@needs_torch
def test_pytorch_checkpoint_with_user_objects(tmp_path):
    lin = torch.nn.Linear(2, 2)
    torch.save({'args': argparse.Namespace(lr=0.1, epochs=3), 'model': lin.state_dict()}, tmp_path / 'ckpt.pt')
    with pytest.raises(pickle.UnpicklingError, match=r"'argparse\.Namespace'.*add_safe_globals\(\[Namespace\]\)"):
        ember.load(tmp_path / 'ckpt.pt')
    with ser.safe_globals([argparse.Namespace]):
        out = ember.load(tmp_path / 'ckpt.pt')
    assert out['args'] == argparse.Namespace(lr=0.1, epochs=3)
    assert np.array_equal(out['model']['weight'].numpy(), lin.weight.detach().numpy())
    full = ember.load(tmp_path / 'ckpt.pt', weights_only=False)
    assert full['args'].epochs == 3 and isinstance(full['model']['bias'], ember.Tensor)


def test_crafted_pytorch_checkpoint_under_weights_only_false(tmp_path):
    """PyTorch-format files follow the same contract: refused by default, run when the user trusts the file."""
    marker = tmp_path / 'ran'
    path = tmp_path / 'evil.pt'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('archive/data.pkl', pickle.dumps({'x': MakeDir(str(marker))}, protocol=2))
        z.writestr('archive/byteorder', 'little')
    with pytest.raises(pickle.UnpicklingError, match='mkdir'):
        ember.load(path)
    assert not marker.exists()
    assert ember.load(path, weights_only=False) == {'x': None} and marker.is_dir()
