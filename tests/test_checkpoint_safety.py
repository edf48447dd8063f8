"""Crafted checkpoints against ember.load's promises: no class changes, views sharing memory within a budget, only
SerializationError/UnpicklingError, PyTorch's environment variables, no temporary files left by saves."""
import argparse
import collections
import io
import os
import pickle
import types
import warnings
import zipfile

import numpy as np
import pytest

import ember
import ember.serialization as ser
from ember.serialization import SerializationError

from conftest import torch, needs_torch
from test_checkpoint_pickle import Config, _bytes, _ember_zip, _load
from test_serialization import (_checkpoint, _dict, _edit_structure, _fails, _g, _i, _pickle, _rewrite, _s, _saved,
                                _tensor)

nn = ember.nn


class Shared:
    """An allowlisted class whose constructor hands out one shared instance."""
    instance = None

    def __new__(cls, *args):
        if cls.instance is None:
            cls.instance = super().__new__(cls)
        return cls.instance


pytestmark = pytest.mark.usefixtures('clean_load_settings')  # conftest.py: allowlist, env vars, budget restored


# ---- weights_only resolution: environment variables as PyTorch reads them ---------------------------------------
ENV_VALUES = ['1', ' 1', '1 ', '\t1', '1\n', 'y', 'Y', 'yes', 'YES', 'yEs', 'true', 'True', 'TRUE', 'on', 't', '2', '0',
              '', ' ', 'false', 'no', '01', '+1', 'true!', 'ye s']
ENV_TRUE = {'1', 'y', 'Y', 'yes', 'YES', 'yEs', 'true', 'True', 'TRUE'}  # measured with PyTorch 2.13


@pytest.mark.parametrize('value', ENV_VALUES)
def test_environment_variables_are_parsed_as_pytorch_does(monkeypatch, value):
    """1, y, yes, true in any case and nothing else: ' 1' (with a space) does not turn unsafe loading on."""
    data = _bytes(Config(1, 2))
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', value)
    if value in ENV_TRUE:
        with pytest.warns(UserWarning, match='TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'):
            assert _load(data) == Config(1, 2)
    else:
        with pytest.raises(pickle.UnpicklingError):
            _load(data)
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
    monkeypatch.setenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', value)
    if value in ENV_TRUE:
        with pytest.raises(pickle.UnpicklingError):
            _load(data, weights_only=False)
    else:
        assert _load(data, weights_only=False) == Config(1, 2)


@needs_torch
def test_environment_variable_parsing_matches_pytorch(monkeypatch):
    buf = io.BytesIO()
    torch.save({'ns': argparse.Namespace(x=1)}, buf)
    for value in ENV_VALUES:
        monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', value)
        buf.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                torch.load(buf)
            torch_unsafe = True
        except pickle.UnpicklingError:
            torch_unsafe = False
        assert ser._env_flag('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') is torch_unsafe is (value in ENV_TRUE), repr(value)


# ---- BUILD may only set state on objects the file built (no class poisoning) ------------------------------------
def _op_str(text):
    raw = text.encode()
    return b'X' + len(raw).to_bytes(4, 'little') + raw


def _op_global(module, name):
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def _build(target, state):
    """A pickle that puts ``target`` on the stack and BUILDs ``state`` into it."""
    return b'\x80\x02' + target + state + b'b.'


def _torch_zip(pkl):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        z.writestr('archive/data.pkl', pkl)
        z.writestr('archive/byteorder', 'little')
    return buf.getvalue()


def _snapshot():
    """The state a crafted file must not be able to change: classes, ember's dtype objects, the loader's functions."""
    from ember._dtype import _BY_NAME
    from ember.serialization import _pickle_format as PF, _restricted as R, _torch_format as TF
    classes = [ember.Size, ember.Tensor, nn.Parameter, collections.Counter, collections.OrderedDict, Config, set,
               R._NpDtype, R._NpArrayBuilder, R._TypeMarker, TF._TorchReader, PF._EmberReader,
               R._RestrictedUnpickler, TF._TorchUnpickler, PF._EmberUnpickler, type(ember.float32),
               type(ember.device('cpu'))]
    funcs = [R._device_global, R._dtype_by_name, R._codecs_encode, R._np_scalar, R._np_reconstruct,
             PF._rebuild_sparse_checked, PF._rebuild_pickled_tensor, PF._make_tensor]
    funcs += [v for v in vars(TF._TorchReader).values() if isinstance(v, types.FunctionType)]
    funcs += [v.__func__ for v in vars(TF._TorchReader).values() if isinstance(v, staticmethod)]
    snap = {c: dict(vars(c)) for c in classes}
    snap.update({f: (f.__defaults__, f.__kwdefaults__, dict(f.__dict__), f.__code__) for f in funcs})
    snap.update({name: tuple(getattr(d, a) for a in type(d).__slots__) for name, d in _BY_NAME.items()})
    return snap


def _hostile_builds():
    """(label, pickle bytes) for BUILDs on objects a file did not build, in ember's and PyTorch's pickle files."""
    set_ = _op_global('builtins', 'set')

    def slot(**attrs):  # BUILD state (None, {name: value}): pickle setattr's each name on the object
        return b'(N}' + b''.join(b'(' + _op_str(k) + v + b'u' for k, v in attrs.items()) + b't'

    size_eq = _build(_op_global('ember._tensor', 'Size'), slot(__eq__=set_))
    cases = [
        ('ember', 'Size.__eq__', size_eq),
        ('ember', 'Size.__getitem__', _build(_op_global('ember._tensor', 'Size'), slot(__getitem__=set_))),
        ('ember', 'Size dict state', _build(_op_global('ember._tensor', 'Size'), b'}' + b'(' + _op_str('x')
                                            + b'K\x01u')),
        ('ember', 'Counter', _build(_op_global('collections', 'Counter'), slot(__getitem__=set_))),
        ('ember', 'OrderedDict class', _build(_op_global('collections', 'OrderedDict'), slot(__init__=set_))),
        ('ember', 'ndarray marker', _build(_op_global('numpy', 'ndarray'), slot(name=_op_str('Tensor')))),
        ('ember', 'dtype singleton', _build(_op_global('ember._dtype', '_by_name') + b'(' + _op_str('float32')
                                            + b'tR', slot(is_floating_point=b'\x89'))),
        ('ember', 'loader function', _build(_op_global('ember.backends', 'device'), slot(__defaults__=b'(K\x05t'))),
        ('ember', 'allowlisted class', _build(_op_global(Config.__module__, 'Config'), slot(__eq__=set_))),
        ('ember', 'dunder on a fresh OrderedDict', _build(_op_global('collections', 'OrderedDict') + b')R',
                                                          slot(__class__=_op_global('collections', 'Counter')))),
        ('ember', 'shadowing __setstate__', _build(_op_global('collections', 'OrderedDict') + b')R',
                                                   b'}(' + _op_str('__setstate__') + set_ + b'u')),
        ('ember', 'EXT1', b'\x80\x02\x82\x01.'),
        ('torch', 'Size.__eq__', size_eq),
        ('torch', 'torch.Size loader', _build(_op_global('torch', 'Size'), slot(__defaults__=b'(K\x05t'))),
        ('torch', 'rebuild method', _build(_op_global('torch._utils', '_rebuild_tensor_v2'),
                                           slot(__doc__=_op_str('x')))),
        ('torch', 'torch.device loader', _build(_op_global('torch', 'device'), slot(__defaults__=b'(K\x05t'))),
        ('torch', 'dtype singleton', _build(_op_global('torch', 'float32'), slot(is_floating_point=b'\x89'))),
        ('torch', 'Counter', _build(_op_global('collections', 'Counter'), slot(__eq__=set_))),
        ('torch', 'numpy.dtype class', _build(_op_global('numpy', 'dtype'), slot(__setstate__=set_))),
        ('torch', 'storage marker', _build(_op_global('torch', 'FloatStorage'), slot(code=_op_str('f8')))),
    ]
    return [(label + f' ({fmt})', _ember_zip(pkl) if fmt == 'ember' else _torch_zip(pkl)) for fmt, label, pkl in cases]


@pytest.mark.parametrize('label,data', _hostile_builds(), ids=[c[0] for c in _hostile_builds()])
def test_crafted_build_cannot_change_classes_or_shared_objects(label, data):
    before = _snapshot()
    with ser.safe_globals([Config]):
        with pytest.raises((pickle.UnpicklingError, SerializationError)):
            _load(data)
    assert _snapshot() == before
    # the classes still work as they did (the symptoms)
    assert not (ember.Size([3]) == (7, 8)) and ember.Size([3, 4])[0] == 3 and ember.ones(2, 3).shape[0] == 2
    assert collections.Counter('aab')['a'] == 2 and ember.float32.is_floating_point


def test_build_still_sets_state_on_objects_the_file_built():
    """What BUILD is for keeps working: an allowlisted class's instance, an OrderedDict's attributes."""
    with ser.safe_globals([Config]):
        assert _load(_bytes({'c': Config(1, [2])}))['c'] == Config(1, [2])
    sd = nn.Linear(2, 3).state_dict()
    out = _load(_bytes({'sd': sd, 'x': Config}), weights_only=False)  # pickled: OrderedDict's _metadata via BUILD
    assert list(out['sd']) == ['weight', 'bias']
    pkl = _build(_op_global('collections', 'OrderedDict') + b')R', b'}(' + _op_str('_metadata') + b'K\x07u')
    assert _load(_ember_zip(pkl))._metadata == 7


def test_small_files_cannot_allocate_big_objects():
    """bytearray(n) would allocate n bytes from a few bytes of file: refused (bytearrays of bytes still load)."""
    import tracemalloc
    for n in (2 ** 30, 2 ** 40):
        pkl = b'\x80\x02' + _op_global('builtins', 'bytearray') + b'(\x8a\x06' + n.to_bytes(6, 'little') + b'tR.'
        tracemalloc.start()
        try:
            with pytest.raises(pickle.UnpicklingError, match='bytearray'):
                _load(_ember_zip(pkl))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20
    # a protocol-5 BYTEARRAY8 opcode declaring 1 GiB in a 20-byte pickle: pickle would allocate it before reading
    pkl = b'\x80\x05\x96' + (2 ** 30).to_bytes(8, 'little') + b'xy.'
    tracemalloc.start()
    try:
        with pytest.raises(pickle.UnpicklingError, match='BYTEARRAY8'):
            _load(_ember_zip(pkl))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    for protocol in (2, 4, 5):
        assert _load(_ember_zip(pickle.dumps({'b': bytearray(b'xy')}, protocol=protocol))) == {'b': bytearray(b'xy')}


# ---- malformed metadata: always SerializationError --------------------------------------------------------------
def test_malformed_metadata_raises_serialization_error():
    good = _saved({'w': ember.arange(10.), 'b': ember.ones(3)})
    scalar = _saved({'s': np.int8(3), 'h': np.float16(1.5)})

    def node(edit, data=good):
        return _edit_structure(data, lambda m: edit(m['structure']['v']))
    cases = [  # (file, what the message names)
        (node(lambda v: v[0][1].update(v=1000), scalar), 'out of range for dtype int8'),
        (node(lambda v: v[0][1].update(v=-(2 ** 70)), scalar), 'out of range'),
        (node(lambda v: v[1][1].update(v=10 ** 400), scalar), 'out of range for dtype float16'),
        (node(lambda v: v[0][1].update(v='x'), scalar), 'has value'),
        (node(lambda v: v[0][1].update(dtype='complex64'), scalar), 'not a number type'),
        (node(lambda v: v[0][1].update(dtype=[1]), scalar), 'unknown NumPy scalar dtype'),
        (node(lambda v: v[0][1].update(dev='../../etc')), "saved on '../../etc'"),
        (node(lambda v: v[0][1].update(dev=5)), 'dev must be a string'),
        (node(lambda v: v[0][1].update(rg='yes')), 'booleans'),
        (node(lambda v: v.append([{'$': 'tuple', 'v': [1]}, {'$': 'size', 'v': [-1]}])), 'non-negative'),
        (node(lambda v: v.append(['k', {'$': 'bytes', 'v': 5}])), 'base64'),
        (node(lambda v: v.append(['k', {'$': 'device', 'v': ['cpu']}])), 'device must be a string'),
        (_rewrite(good, lambda h: h['w'].update(shape=[0, 2 ** 62], data_offsets=[0, 0])), 'too big'),
        (_rewrite(good, lambda h: h['w'].update(shape=[1] * 65, data_offsets=[0, 4])), 'dimensions'),
        (_rewrite(good, lambda h: h['w'].update(shape=[2 ** 64])), 'needs|too big'),
    ]
    for data, pattern in cases:
        _fails(data, pattern)


def test_crafted_pytorch_metadata_raises_serialization_error(tmp_path):
    flat = np.arange(4, dtype='<f4').tobytes()
    cases = [
        (_tensor('0', 4, 0, (0, 2 ** 62), (1, 1)), 'too big'),
        (_tensor('0', 4, 0, (1,) * 65, (1,) * 65), 'dimensions'),
        (_tensor('0', 4, 0, (2 ** 64,), (1,)), 'reaches element|too big'),
        (_tensor('0', 4, 2 ** 70, (1,), (1,)), 'reaches element'),
        (_tensor('0', 4, 0, (2,), (2 ** 70,)), 'reaches element'),
    ]
    for i, (body, pattern) in enumerate(cases):
        path = _checkpoint(tmp_path / f'bad{i}.pt', _pickle(_dict(w=body)), {'0': flat})
        with pytest.raises(SerializationError, match=pattern):
            ember.load(path)
    # scalars out of range in the pickle itself (an int too big for a Size, a huge long for a device index)
    big = _g('torch', 'device') + b'(' + _s('cpu') + _i(2 ** 80) + b'tR'
    with pytest.raises(SerializationError, match='bad device arguments'):
        ember.load(_checkpoint(tmp_path / 'dev.pt', _pickle(_dict(d=big))))


# ---- views share memory; the memory budget of a load ------------------------------------------------------------
def _roots(arrays):
    """The distinct memory blocks under some arrays (following .base down to the buffer owner)."""
    roots = {}
    for a in arrays:
        while isinstance(getattr(a, 'base', None), np.ndarray) or hasattr(getattr(a, 'base', None), 'base'):
            a = a.base  # (as_strided views sit on a NumPy DummyArray that holds the array as .base)
        roots[id(a)] = a
    return roots


def test_crafted_checkpoint_views_share_one_storage(tmp_path):
    flat = np.arange(12, dtype='<f4')
    views = {f'v{i}': _tensor('0', 12, i % 4, (2, 3), (6, 1)) for i in range(40)}
    views['t'] = _tensor('0', 12, 0, (3, 4), (1, 3))
    views['e'] = _tensor('0', 12, 1, (1000, 1000), (0, 0))
    views['overlap'] = _tensor('0', 12, 0, (3, 3), (1, 1))  # elements overlap without a stride 0: copied out
    out = ember.load(_checkpoint(tmp_path / 'views.pt', _pickle(_dict(**views)), {'0': flat.tobytes()}))
    arrs = [out[k].numpy() for k in views if k != 'overlap']
    assert all(np.shares_memory(a, out['t'].numpy()) for a in arrs) and len(_roots(arrs)) == 1
    assert sum(r.nbytes for r in _roots(arrs).values()) == 48
    assert out['v1'].tolist() == [[1, 2, 3], [7, 8, 9]] and out['t'].tolist() == flat.reshape(4, 3).T.tolist()
    out['v0'].add_(100)  # writing through one view shows in the others, as in PyTorch
    assert out['v1'][0, 0].item() == 101 and out['e'][999, 999].item() == 101
    assert out['overlap'].tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]  # its own copy, made at load
    assert not np.shares_memory(out['overlap'].numpy(), arrs[0])


@needs_torch
def test_pytorch_views_of_one_tensor_load_into_one_storage(tmp_path):
    import tracemalloc
    base = torch.arange(2_500_000, dtype=torch.float32)  # 10 MB
    views = {f'v{i}': base[i * 1000:] for i in range(40)}
    views['reshaped'], views['expanded'] = base.view(1000, 2500), base[:1].expand(1000, 1000)
    torch.save(views, tmp_path / 'views.pt')
    tracemalloc.start()
    try:
        out = ember.load(tmp_path / 'views.pt')
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    arrs = [t.numpy() for t in out.values()]
    assert len(_roots(arrs)) == 1 and sum(r.nbytes for r in _roots(arrs).values()) == 10_000_000
    assert peak < 16_000_000, peak  # was ~410 MB when each view was copied out
    for k, v in views.items():
        assert np.array_equal(out[k].numpy(), v.numpy()), k


def test_memory_budget(tmp_path):
    data = _saved({'w': ember.zeros(1000), 'b': ember.zeros(10)})
    try:
        ser.set_load_memory_budget(3000)
        with pytest.raises(SerializationError, match="tensor 'w' needs 4000 bytes.*memory budget of 3000 bytes"):
            ember.load(io.BytesIO(data))
        ser.set_load_memory_budget(4040)
        assert ember.load(io.BytesIO(data))['w'].shape == (1000,) and ser.get_load_memory_budget() == 4040
    finally:
        ser.set_load_memory_budget(None)
    assert ser.get_load_memory_budget() is None
    with pytest.raises(TypeError):
        ser.set_load_memory_budget(-1)


def test_memory_budget_refuses_before_allocating(tmp_path):
    """A 100 KB deflated member that expands to 100 MB (within the default budget, 3 x the file + 1 GiB): with a
    10 MB budget it is refused before the 100 MB are allocated."""
    import tracemalloc
    path = tmp_path / 'bomb.pt'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('archive/data.pkl', _pickle(_dict(w=_tensor('0', 25_000_000, 0, (25_000_000,), (1,)))))
        z.writestr('archive/byteorder', 'little')
        z.writestr('archive/data/0', bytes(100_000_000))
    assert path.stat().st_size < 1_000_000
    ser.set_load_memory_budget(10_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(SerializationError, match='memory budget of 10000000 bytes'):
            ember.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        ser.set_load_memory_budget(None)
    assert peak < 5_000_000, peak


# ---- interrupted saves leave no temporary files -----------------------------------------------------------------
def _dead_pid():
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize('error', [KeyboardInterrupt, OSError, MemoryError])
@pytest.mark.parametrize('obj', ['tensors', 'pickled'])
def test_interrupted_save_leaves_no_temporary_file(tmp_path, monkeypatch, error, obj):
    path = tmp_path / 'model.pt'
    ember.save({'w': ember.zeros(1000)}, path)
    before = path.read_bytes()
    written = []

    def failing(fh, arr):
        fh.write(arr.reshape(-1).view(np.uint8).data[:10])
        written.append(1)
        raise error('interrupted midway (simulated)')
    monkeypatch.setattr(ser._atomic, '_write_array', failing)
    new = {'w': ember.ones(1000)} if obj == 'tensors' else {'w': ember.ones(1000), 'c': collections.Counter('ab')}
    with pytest.raises(error):
        ember.save(new, path)
    assert written and path.read_bytes() == before and os.listdir(tmp_path) == ['model.pt']


def test_stale_temporary_files_are_removed_safely(tmp_path):
    import fcntl
    import time
    path = tmp_path / 'model.pt'
    dead, live = _dead_pid(), os.getpid()
    old = time.time() - 7200
    files = {
        'crashed': f'.model.pt.{dead}.abcd1234.tmp',  # its writer is gone: removed
        'old_live_unlocked': f'.model.pt.{live}.oldfile1.tmp',  # unlocked for long: removed
        'older_ember': '.model.pt.k3j4h5g6.tmp',  # no pid (an older ember), an hour old and unlocked: removed
        'young_live_unlocked': f'.model.pt.{live}.young123.tmp',  # may be about to be locked: kept
        'in_progress': f'.model.pt.{dead}.locked12.tmp',  # a save holds its lock: kept
        'other_target': f'.other.pt.{dead}.abcd1234.tmp',  # another file's: kept
        'not_ours': f'.model.pt.{dead}.x.y.tmp',  # not a name a save makes: kept
    }
    for key, name in files.items():
        (tmp_path / name).write_bytes(b'partial')
        if key in ('old_live_unlocked', 'older_ember', 'in_progress'):
            os.utime(tmp_path / name, (old, old))
    target = tmp_path / 'precious'
    target.write_bytes(b'keep me')
    os.symlink(target, tmp_path / f'.model.pt.{dead}.symlink1.tmp')  # never followed or removed
    with open(tmp_path / files['in_progress'], 'rb') as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        ember.save({'w': ember.ones(3)}, path)
    left = set(os.listdir(tmp_path))
    for key in ('crashed', 'old_live_unlocked', 'older_ember'):
        assert files[key] not in left, key
    for key in ('young_live_unlocked', 'in_progress', 'other_target', 'not_ours'):
        assert files[key] in left, key
    assert f'.model.pt.{dead}.symlink1.tmp' in left and target.read_bytes() == b'keep me'
    assert ember.load(path)['w'].tolist() == [1.0, 1.0, 1.0]


def test_save_in_progress_holds_a_lock_on_its_temporary_file(tmp_path, monkeypatch):
    """What lets another process's save tell a save in progress from a crashed one."""
    import fcntl
    seen = []

    def probe(fh, arr):
        name = [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
        assert len(name) == 1 and name[0].startswith(f'.m.pt.{os.getpid()}.')
        with open(tmp_path / name[0], 'rb') as other:
            with pytest.raises(OSError):
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        seen.append(name[0])
        fh.write(arr.reshape(-1).view(np.uint8).data)
    monkeypatch.setattr(ser._atomic, '_write_array', probe)
    ember.save({'w': ember.ones(2)}, tmp_path / 'm.pt')
    assert seen and os.listdir(tmp_path) == ['m.pt']


def test_build_refuses_shared_instances_of_allowlisted_classes():
    """Calling an allowlisted class that returns an existing instance does not make the file its builder."""
    shared = Shared()
    shared.x = 1
    name = _op_global(Shared.__module__, 'Shared')
    state = b'}(' + _op_str('x') + b'K\x07u'
    with ser.safe_globals([Shared]):
        for made in (name + b')R', name + b')\x81', b'(' + name + b'o'):  # REDUCE, NEWOBJ, OBJ
            with pytest.raises(pickle.UnpicklingError, match='BUILD'):
                _load(_ember_zip(_build(made, state)))
            assert Shared.instance is shared and shared.x == 1
        # a fresh instance of an allowlisted class still takes its state
        with ser.safe_globals([Config]):
            out = _load(_ember_zip(_build(_op_global(Config.__module__, 'Config') + b')\x81', state)))
        assert type(out) is Config and out.x == 7


def test_tensor_state_cannot_name_dunder_attributes():
    """A pickled tensor's attributes go into its instance dict; '__deepcopy__' there would stand in for the method."""
    import copy
    from ember.serialization._pickle_format import _make_tensor, _placer
    arr = np.zeros(2, np.float32)
    with pytest.raises(SerializationError, match='bad tensor rebuild'):
        _make_tensor(ember.Tensor, arr, 'cpu', False, {'__deepcopy__': set}, _placer(None))
    t = _make_tensor(ember.Tensor, arr, 'cpu', False, {'note': 1}, _placer(None))
    assert t.note == 1 and copy.deepcopy(t).tolist() == [0.0, 0.0]
