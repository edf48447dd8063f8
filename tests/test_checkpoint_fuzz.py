"""Checkpoint fuzzing: mutated .pt / ember / safetensors files load or raise SerializationError or UnpicklingError."""
import collections
import io
import json
import os
import pickle
import random
import tracemalloc
import types
import zipfile

import numpy as np
import pytest

import ember
import ember.serialization as ser
from ember.serialization import SerializationError

from conftest import torch

nn = ember.nn
FIXTURES = os.path.join(os.path.dirname(__file__), 'data')
# The contract: a load of any file returns data or raises one of these (SerializationError is a RuntimeError);
# never a bare ValueError, TypeError, OverflowError, MemoryError, KeyError... from NumPy, zipfile or pickle.
ALLOWED = (SerializationError, pickle.UnpicklingError)
BUDGET = 32 << 20  # the memory budget set for the fuzzed loads
SLACK = 16 << 20  # what a load may allocate outside the budget (Python objects of the parsed pickle, headers)
CASES = int(os.environ.get('EMBER_FUZZ_CASES', '2000'))
SEED = int(os.environ.get('EMBER_FUZZ_SEED', '20261204'))


# ---- the corpus of valid files ----------------------------------------------------------------------------------
def _saved(obj):
    buf = io.BytesIO()
    ember.save(obj, buf)
    return buf.getvalue()


def _corpus():
    ember.manual_seed(0)
    lin = nn.Linear(3, 2)
    base = ember.arange(12.).reshape(3, 4)
    files = {
        'ember-safetensors': _saved({'w': base, 'p': nn.Parameter(ember.ones(2)), 'i': ember.tensor([1, -2]),
                                     'meta': {1: (2, 3.5, float('inf')), 'k': [None, True, 'x', b'\x00']},
                                     'od': collections.OrderedDict(a=ember.zeros(2, 0)), 'np': np.int8(3),
                                     'h': np.float16(1.5), 'arr': np.arange(3), 'size': ember.Size([2, 3]),
                                     'dt': ember.float16, 'dev': ember.device('cpu'), 's': {1, 2}}),
        'ember-pickle': _saved({'c': collections.Counter('abca'), 'w': base, 'view': base[1:, ::2],
                                'sd': lin.state_dict(), 'arr': np.arange(5.).reshape(5, 1).T, 'np': np.float32(2),
                                'sl': slice(1, 5, 2), 'z': 1j, 'ba': bytearray(b'ab'), 'fs': frozenset({3})}),
        'ember-model': _saved(lin),  # loaded with nn.Linear allowlisted: BUILD on an allowlisted class
    }
    flat = json.dumps({'x': {'dtype': 'F32', 'shape': [2, 2], 'data_offsets': [0, 16]},
                       'y': {'dtype': 'BF16', 'shape': [3], 'data_offsets': [16, 22]}}).encode()
    flat += b' ' * (-len(flat) % 8)
    files['plain-safetensors'] = (len(flat).to_bytes(8, 'little') + flat + np.arange(4, dtype='<f4').tobytes()
                                  + b'\x80\x3f\x00\x40\x40\x40')
    for name in sorted(os.listdir(FIXTURES)):  # written by torch.save (PyTorch 2.13): usable without PyTorch
        if name.endswith('.pt'):
            with open(os.path.join(FIXTURES, name), 'rb') as fh:
                files['committed-' + name] = fh.read()
    if torch is not None:
        torch.manual_seed(0)  # the same files, so the same cases, every run
        tbase = torch.arange(24, dtype=torch.float32).reshape(4, 6)
        tlin = torch.nn.Linear(3, 2)
        opt = torch.optim.Adam(tlin.parameters())
        tlin(torch.ones(1, 3)).sum().backward()
        opt.step()
        buf = io.BytesIO()
        torch.save({'model': tlin.state_dict(), 'optim': opt.state_dict(), 'views': [tbase[1:, ::2], tbase.t()],
                    'expand': torch.ones(1, 3).expand(4, 3), 'bf16': torch.ones(3, dtype=torch.bfloat16),
                    'param': torch.nn.Parameter(torch.ones(2)), 'i8': torch.tensor([-1], dtype=torch.int8),
                    'size': torch.Size([2]), 'dtype': torch.float64, 'np': np.float64(0.5),
                    'arr': np.arange(4)}, buf)
        files['torch.save'] = buf.getvalue()
    return files


# ---- mutations --------------------------------------------------------------------------------------------------
INTS = [0, 1, -1, 2, 7, 255, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 62, 2 ** 63, 2 ** 64, -2 ** 63, 10 ** 12, 10 ** 30]
VALUES = INTS + [None, True, False, 1.5, -0.0, 1e308, 'x', '', '../../etc', 'cuda:1', 'F32', 'BF16', 'C64', [],
                 {}, [0, 2 ** 62], [1] * 65, [-1], [2 ** 64], {'$': 'tensor', 'k': 'w'},
                 {'$': 'npscalar', 'dtype': 'int8', 'v': 1000}, {'$': 'size', 'v': [-1]}, {'$': 'evil'},
                 {'$': 'tensor', 'k': 'w', 'dev': '../../etc'}, {'$': 'dict', 'v': [[[], 1]]}]


def _g(module, name):
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


SNIPPETS = [b'b', b'R', b'\x81', b'\x92', b'o', b'.', b'0', b'2', b'(', b't', b')', b'}', b']', b'N', b'\x88',
            b'h\x00', b'h\x01', b'j\xff\xff\x00\x00', b'\x94', b'q\x00', b'\x82\x01', b'\x83\x01\x00', b'K\xff',
            b'J\xff\xff\xff\x7f', b'\x8a\x09' + b'\xff' * 9, b'M\xff\xff', b'Q', b'P0\n', b'(N}tb', b'}b',
            _g('ember._tensor', 'Size'), _g('collections', 'Counter'), _g('collections', 'OrderedDict'),
            _g('builtins', 'set'), _g('builtins', 'bytearray'), _g('torch', 'Size'), _g('torch', 'float32'),
            _g('torch', 'device'), _g('torch._utils', '_rebuild_tensor_v2'), _g('numpy', 'dtype'),
            _g('numpy', 'ndarray'), _g('ember._dtype', '_by_name'), _g('ember.backends', 'device'),
            _g('torch', 'FloatStorage'), _g('torch.nn.modules.linear', 'Linear'),
            _g('ember.nn.modules.linear', 'Linear'),
            b'(N}X\x06\x00\x00\x00__eq__' + _g('builtins', 'set') + b'stb',
            _g('ember._tensor', 'Size') + b'(N}X\x0b\x00\x00\x00__getitem__' + _g('builtins', 'set') + b'stb',
            _g('builtins', 'bytearray') + b'(J\x00\x00\x00\x40tR', _g('collections', 'Counter') + b'(K\x05tR',
            b'\x96' + (2 ** 30).to_bytes(8, 'little'), b'\x8e' + (2 ** 30).to_bytes(8, 'little'),
            b'\x95' + (2 ** 30).to_bytes(8, 'little')]  # BYTEARRAY8, BINBYTES8, FRAME declaring 1 GiB
GLOBAL_SWAPS = [b'OrderedDict', b'Counter', b'Size', b'set', b'frozenset', b'bytearray', b'_rebuild_tensor_v2',
                b'_rebuild_tensor', b'_rebuild_parameter', b'_rebuild_from_type_v2', b'FloatStorage',
                b'BFloat16Storage',
                b'LongStorage', b'_reconstruct', b'scalar', b'dtype', b'device', b'Tensor', b'Parameter', b'ndarray',
                b'_rebuild_pickled_tensor', b'_by_name', b'Linear', b'system', b'eval']


def _bytes_mutation(rng, data):
    data = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0 or not data:  # flip some bytes
        for _ in range(rng.randint(1, 8)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:  # truncate
        del data[rng.randrange(len(data)):]
    elif kind == 2:  # insert a snippet or random bytes
        ins = (rng.choice(SNIPPETS) if rng.random() < 0.7
               else bytes(rng.randrange(256) for _ in range(rng.randint(1, 9))))
        at = rng.randrange(len(data) + 1)
        data[at:at] = ins
    elif kind == 3:  # delete a range
        a = rng.randrange(len(data))
        del data[a:a + rng.randint(1, 16)]
    elif kind == 4:  # duplicate a range
        a = rng.randrange(len(data))
        chunk = data[a:a + rng.randint(1, 32)]
        at = rng.randrange(len(data) + 1)
        data[at:at] = chunk
    else:  # swap a global's or string's name for another the loaders know
        for old in rng.sample(GLOBAL_SWAPS, len(GLOBAL_SWAPS)):
            i = data.find(old)
            if i >= 0:
                new = rng.choice(GLOBAL_SWAPS)
                data[i:i + len(old)] = new
                if len(new) != len(old) and i >= 1 and data[i - 1] == len(old):  # SHORT_BINUNICODE length byte
                    data[i - 1] = len(new)
                break
    return bytes(data)


def _pickle_mutation(rng, raw):
    """Insert a snippet, or delete or repeat one opcode, at opcode boundaries of a pickle (so the result usually
    still parses and reaches the unpickler's handling of the opcode)."""
    import pickletools
    try:
        ops = [(pos, op) for op, _, pos in pickletools.genops(raw)]
    except Exception:  # noqa: BLE001 - an earlier mutation broke it
        return _bytes_mutation(rng, raw)
    ends = [p for p, _ in ops[1:]] + [len(raw)]
    i = rng.randrange(len(ops))
    start, end = ops[i][0], ends[i]
    kind = rng.randrange(3)
    if kind == 0:
        return raw[:start] + rng.choice(SNIPPETS) + raw[start:]
    if kind == 1:
        return raw[:start] + raw[end:]
    return raw[:end] + raw[start:end] + raw[end:]


def _rezip(data, edit):
    """Apply ``edit(name, bytes) -> bytes or None (dropped)`` to each member of a zip and write it again."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            new = edit(info.filename, src.read(info))
            if new is not None:
                dst.writestr(info.filename, new)
    return out.getvalue()


def _zip_mutation(rng, data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
    target = rng.choice([n for n in names if n.endswith('data.pkl')] * 3 + names)
    kind = rng.randrange(10)

    def edit(name, raw):
        if name != target:
            return raw
        if kind == 0:
            return None  # a missing member
        if kind == 1:
            return raw + raw[:rng.randint(1, 64)]  # a storage longer than declared
        if name.endswith('data.pkl') and kind < 7:
            return _pickle_mutation(rng, raw)
        return _bytes_mutation(rng, raw)
    return _rezip(data, edit)


def _json_mutation(rng, data):
    n = int.from_bytes(data[:8], 'little')
    header = json.loads(data[8:8 + n])
    meta = header.get('__metadata__', {})
    doc = json.loads(meta['ember']) if 'ember' in meta and rng.random() < 0.6 else None
    tree = doc if doc is not None else header
    nodes = []  # (container, key) of every place in the tree

    def walk(x):
        if isinstance(x, dict):
            for k in x:
                nodes.append((x, k))
                walk(x[k])
        elif isinstance(x, list):
            for i in range(len(x)):
                nodes.append((x, i))
                walk(x[i])
    walk(tree)
    for _ in range(rng.randint(1, 3)):
        container, key = rng.choice(nodes)
        container[key] = rng.choice(VALUES)
    if doc is not None:
        meta['ember'] = json.dumps(doc)
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, 'little') + raw + data[8 + n:]


def _mutate(rng, data):
    is_zip = data[:4] == b'PK\x03\x04'
    r = rng.random()
    if r < 0.2:
        return 'bytes', _bytes_mutation(rng, data)
    try:  # (a file broken by an earlier mutation may no longer parse as a zip or JSON: then bytes)
        if is_zip:
            return 'zip-member', _zip_mutation(rng, data)
        return 'json', _json_mutation(rng, data)
    except Exception:  # noqa: BLE001
        return 'bytes', _bytes_mutation(rng, data)


# ---- what a load must not touch ---------------------------------------------------------------------------------
def _snapshot():
    from ember._dtype import _BY_NAME
    classes = [ember.Size, ember.Tensor, nn.Parameter, nn.Linear, nn.Module, collections.Counter,
               collections.OrderedDict, set, frozenset, slice, complex, bytearray, np.ndarray, type(ember.float32),
               type(ember.device('cpu'))]
    modules = [ser] + [m for m in vars(ser).values() if isinstance(m, types.ModuleType)
                       and m.__name__.startswith(ser.__name__ + '.')]
    classes += [v for m in modules for v in vars(m).values() if isinstance(v, type) and v.__module__ == m.__name__]
    funcs = [v for m in modules for v in vars(m).values() if isinstance(v, types.FunctionType)]
    for cls in classes:
        funcs += [v for v in vars(cls).values() if isinstance(v, types.FunctionType)]
    snap = {c: dict(vars(c)) for c in classes}
    snap.update({f: (f.__defaults__, f.__kwdefaults__, dict(f.__dict__), f.__code__) for f in funcs})
    snap.update({n: tuple(getattr(d, a) for a in type(d).__slots__) for n, d in _BY_NAME.items()})
    snap.update({m: {k: id(v) for k, v in vars(m).items()} for m in modules})
    return snap


# ---- the test -----------------------------------------------------------------------------------------------------
def test_mutated_checkpoints_load_or_raise_serialization_errors():
    corpus = _corpus()
    for name, data in corpus.items():  # the unmutated files load
        with ser.safe_globals([nn.Linear]):
            assert ember.load(io.BytesIO(data)) is not None, name
    rng = random.Random(SEED)
    before = _snapshot()
    names = sorted(corpus)
    outcomes = collections.Counter()
    worst_peak = 0
    ser.set_load_memory_budget(BUDGET)
    tracemalloc.start()
    try:
        for case in range(CASES):
            source = names[case % len(names)]
            how, data = _mutate(rng, corpus[source])
            for _ in range(rng.randrange(3)):  # sometimes several mutations on top of each other
                how2, data = _mutate(rng, data)
                how += '+' + how2
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            try:
                with ser.safe_globals([nn.Linear]):
                    out = ember.load(io.BytesIO(data), map_location='cpu' if case % 2 else None)
                result = 'loaded'
                del out
            except ALLOWED as e:
                result = type(e).__name__
            except Exception as e:  # noqa: BLE001 - the assertion names what escaped
                raise AssertionError(f'case {case} ({source}, {how}, seed {SEED}): {type(e).__name__}: {e}') from e
            peak = tracemalloc.get_traced_memory()[1] - base
            worst_peak = max(worst_peak, peak)
            assert peak <= BUDGET + SLACK, f'case {case} ({source}, {how}): allocated {peak} bytes'
            assert _snapshot() == before, f'case {case} ({source}, {how}) changed a class or a loader object'
            outcomes[source, result] += 1
    finally:
        tracemalloc.stop()
        ser.set_load_memory_budget(None)
    summary = collections.Counter()
    for (source, result), n in outcomes.items():
        summary[result] += n
    print(f'\ncheckpoint fuzz: {CASES} cases (seed {SEED}) over {len(names)} files: {dict(summary)}; '
          f'largest allocation {worst_peak} bytes (budget {BUDGET})')
    for source in names:
        print(f'  {source}: ' + ', '.join(f'{r} {n}' for (s, r), n in sorted(outcomes.items()) if s == source))
    assert sum(outcomes.values()) == CASES and summary['loaded'] > 0


@pytest.mark.parametrize('size', [1, 2, 3])
def test_tiny_and_empty_files(size):
    for data in (b'', b'PK\x03\x04'[:size], b'\x80' * size, b'\x00' * size, b'PK\x05\x06' + b'\x00' * 18):
        try:
            ember.load(io.BytesIO(data))
        except ALLOWED:
            pass
