"""The `ember` command: train outputs, resume equivalence (epoch boundary and mid-epoch), tutorial, info, errors."""
import csv
import json
import os
import subprocess
import sys

import pytest

import ember
from ember import cli

pytest.importorskip('sklearn', reason='ember train uses the Digits data from scikit-learn')

QUICK = ['--limit', '160', '--batch-size', '32', '--no-progress']


def _train(tmp_path, name, *extra):
    out = tmp_path / name
    code = cli.main(['train', '--out', str(out), *QUICK, *extra])
    return code, out


def _weights(out):
    return ember.load(str(out / 'model.safetensors'))


def _same(a, b):
    return a.keys() == b.keys() and all(ember.equal(a[k], b[k]) for k in a)


def test_train_writes_every_output(tmp_path, capsys):
    code, out = _train(tmp_path, 'run', '--epochs', '1')
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {'model.safetensors', 'train_state.safetensors', 'metrics.csv', 'metrics.json', 'curves.png',
            'command.txt', 'config.json'} <= names
    state = _weights(out)
    from ember.training import build_model
    model = build_model('mlp', (1, 8, 8), 10)
    model.load_state_dict(state)
    rows = list(csv.DictReader(open(out / 'metrics.csv')))
    assert len(rows) == 1
    assert {'epoch', 'train_loss', 'val_loss', 'val_accuracy', 'lr', 'samples_per_s'} <= set(rows[0])
    metrics = json.load(open(out / 'metrics.json'))
    assert metrics[0]['epoch'] == 1 and 0 <= metrics[0]['val_accuracy'] <= 1
    assert json.load(open(out / 'config.json'))['model'] == 'mlp'
    assert (out / 'command.txt').read_text() == f'ember train --out {out} ' + ' '.join(QUICK) + ' --epochs 1\n'
    png = (out / 'curves.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    mpimg = pytest.importorskip('matplotlib.image')
    img = mpimg.imread(str(out / 'curves.png'))
    assert img.ndim == 3 and img.shape[0] > 100
    assert 'test accuracy' in capsys.readouterr().out


def test_resume_at_epoch_boundary_matches_uninterrupted(tmp_path):
    assert _train(tmp_path, 'straight', '--epochs', '2')[0] == 0
    assert _train(tmp_path, 'part', '--epochs', '1')[0] == 0
    assert cli.main(['train', '--resume', str(tmp_path / 'part'), '--epochs', '2', '--no-progress']) == 0
    assert _same(_weights(tmp_path / 'straight'), _weights(tmp_path / 'part'))
    assert len(json.load(open(tmp_path / 'part' / 'metrics.json'))) == 2


def test_ctrl_c_saves_checkpoint_and_resume_matches(tmp_path, monkeypatch):
    assert _train(tmp_path, 'straight', '--epochs', '2')[0] == 0
    real_step = ember.optim.Adam.step
    calls = {'n': 0}

    def interrupting_step(self, *a, **k):
        calls['n'] += 1
        if calls['n'] == 8:  # mid-way through the second epoch (5 batches per epoch)
            raise KeyboardInterrupt
        return real_step(self, *a, **k)
    monkeypatch.setattr(ember.optim.Adam, 'step', interrupting_step)
    code, out = _train(tmp_path, 'interrupted', '--epochs', '2')
    assert code == 130
    state = ember.load(str(out / 'train_state.safetensors'))
    assert (state['epoch'], state['batch']) == (1, 2)
    monkeypatch.setattr(ember.optim.Adam, 'step', real_step)
    assert cli.main(['train', '--resume', str(out), '--no-progress']) == 0
    assert _same(_weights(tmp_path / 'straight'), _weights(out))


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    code, out = _train(tmp_path, 'run', '--epochs', '1')
    before = (out / 'model.safetensors').read_bytes()
    import ember.serialization as ser
    real = ser.save

    def broken_save(obj, f, *a, **k):
        raise OSError('disk full')
    monkeypatch.setattr(ser, 'save', broken_save)
    monkeypatch.setattr(ember, 'save', broken_save)
    code = cli.main(['train', '--resume', str(out), '--epochs', '2', '--no-progress'])
    assert code == 1
    assert (out / 'model.safetensors').read_bytes() == before
    assert not [p for p in os.listdir(out) if p.startswith('.') or p.endswith('.tmp')]
    monkeypatch.setattr(ser, 'save', real)


def test_cnn_and_model_file(tmp_path):
    assert _train(tmp_path, 'cnn', '--epochs', '1', '--model', 'cnn', '--optimizer', 'sgd')[0] == 0
    model_file = tmp_path / 'mynet.py'
    model_file.write_text('import ember.nn as nn\n\nclass Net(nn.Module):\n'
                          '    def __init__(self, input_shape, num_classes):\n        super().__init__()\n'
                          '        self.fc = nn.Linear(64, num_classes)\n\n'
                          '    def forward(self, x):\n        return self.fc(x.flatten(1))\n')
    assert _train(tmp_path, 'file', '--epochs', '1', '--model', str(model_file))[0] == 0


@pytest.mark.parametrize('args, needle', [
    (['--model', 'resnet'], 'mlp, cnn'),
    (['--optimizer', 'lion'], 'sgd, adam, adamw, rmsprop, adagrad'),
    (['--data', 'cifar'], 'digits, mnist, fashion-mnist'),
    (['--scheduler', 'warm'], 'none, step, cosine'),
])
def test_unknown_names_list_valid_ones(tmp_path, capsys, args, needle):
    assert cli.main(['train', '--out', str(tmp_path / 'x'), *args]) == 2
    assert needle in capsys.readouterr().err


def test_bad_resume_folder(tmp_path, capsys):
    assert cli.main(['train', '--resume', str(tmp_path / 'nope')]) == 2
    err = capsys.readouterr().err
    assert 'model.safetensors' in err and 'train_state.safetensors' in err


def test_missing_mnist_says_which_files(tmp_path, capsys):
    assert cli.main(['train', '--data', 'mnist', '--data-dir', str(tmp_path), '--out', str(tmp_path / 'o')]) == 1
    assert 'train-images-idx3-ubyte' in capsys.readouterr().err


def test_cuda_without_cupy_or_gpu_says_what_is_missing(tmp_path, capsys):
    if ember.cuda.is_available():
        pytest.skip('a GPU is present')
    assert cli.main(['train', '--device', 'cuda', '--out', str(tmp_path / 'o')] + QUICK) == 1
    err = capsys.readouterr().err
    assert 'CuPy' in err or 'GPU' in err


def test_usage_error_exit_code(capsys):
    assert cli.main(['train', '--epochs', 'many']) == 2
    assert cli.main([]) == 2
    assert cli.main(['tutorial', '--section', '9']) == 2


def test_info_lists_versions(capsys):
    assert cli.main(['info']) == 0
    out = capsys.readouterr().out
    for key in ('ember version', 'Python version', 'NumPy version', 'BLAS', 'Devices: cpu', 'mpi4py', 'torch'):
        assert key in out


def test_tutorial_sections_losses_fall():
    from ember import tutorial
    res = tutorial.run([4, 5, 6], quiet=True)
    assert res[4][-1] < res[4][0] / 100
    for name, losses in res[5].items():
        assert losses[-1] < losses[0], name
    assert res[6][-1] < res[6][0] / 100


def test_tutorial_command_runs_one_section(capsys):
    assert cli.main(['tutorial', '--section', '3']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith('== Section 3') and lines[-1].startswith('499 ')


def test_python_dash_m_ember():
    res = subprocess.run([sys.executable, '-m', 'ember', 'info'], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and 'ember version' in res.stdout


def test_viz_writes_graph_source(tmp_path):
    pytest.importorskip('graphviz')
    out = tmp_path / 'g.dot'
    assert cli.main(['viz', '--out', str(out)]) == 0
    src = out.read_text()
    assert 'digraph' in src and 'AddmmBackward' in src or 'LinearBackward' in src or 'Backward' in src


def test_make_dot_labels_parameters():
    graphviz = pytest.importorskip('graphviz')
    from ember import viz
    lin = ember.nn.Linear(3, 2)
    loss = lin(ember.randn(4, 3)).sum()
    dot = viz.make_dot(loss, params=dict(lin.named_parameters()))
    assert isinstance(dot, graphviz.Digraph)
    assert 'weight' in dot.source and 'bias' in dot.source
