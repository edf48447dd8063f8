"""The `ember` command: train outputs, resume equivalence (epoch boundary and mid-epoch), tutorial, info, errors."""
import csv
import json
import os
import subprocess
import sys

import pytest

import ember
from ember.app import cli
from conftest import needs_torch


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
    assert {'checkpoint.safetensors', 'model.safetensors', 'best.safetensors', 'metrics.csv', 'metrics.json', 'curves.png',
            'command.txt', 'config.json'} <= names
    state = _weights(out)
    from ember.app.training import build_model
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


def _ember(*args, env=None, timeout=300, cwd=None):
    """The real `ember` command in a subprocess (python -m ember is the same entry point)."""
    e = dict(os.environ)
    e.pop('EMBER_TRAIN_FAULT', None)
    e.update(env or {})
    return subprocess.run([sys.executable, '-m', 'ember', *args], capture_output=True, text=True, timeout=timeout,
                          env=e, cwd=cwd)


def _sub_train(tmp_path, name, *extra, fault=None):
    out = tmp_path / name
    res = _ember('train', '--out', str(out), *QUICK, *extra, env={'EMBER_TRAIN_FAULT': fault} if fault else None)
    return res, out


def _resume(out, *extra):
    return _ember('train', '--resume', str(out), '--no-progress', *extra)


def _same_files(a, b):
    """Bit-for-bit equal final weights, and the same training losses and learning rates per epoch."""
    assert (a / 'model.safetensors').read_bytes() == (b / 'model.safetensors').read_bytes()
    ma, mb = json.load(open(a / 'metrics.json')), json.load(open(b / 'metrics.json'))
    keys = ('epoch', 'train_loss', 'val_loss', 'val_accuracy', 'lr')
    assert [{k: m[k] for k in keys} for m in ma] == [{k: m[k] for k in keys} for m in mb]
    ca, cb = ember.load(str(a / 'checkpoint.safetensors')), ember.load(str(b / 'checkpoint.safetensors'))
    for k, v in ca['optimizer']['state'].items():
        for name, t in v.items():
            assert ember.equal(ember.as_tensor(t), ember.as_tensor(cb['optimizer']['state'][k][name])), (k, name)


def test_sigint_right_after_step_resumes_without_repeating_the_batch(tmp_path):
    straight, ref = _sub_train(tmp_path, 'straight', '--epochs', '2')
    assert straight.returncode == 0, straight.stderr
    # a real SIGINT delivered right after optimizer.step() of batch 2 (0-based) in the second epoch
    res, out = _sub_train(tmp_path, 'cut', '--epochs', '2', fault='sigint@after_step:1:2')
    assert res.returncode == 130, res.stderr
    assert 'checkpoint saved' in res.stderr
    state = ember.load(str(out / 'checkpoint.safetensors'))
    assert (state['epoch'], state['batch']) == (1, 3)  # batch 2 is applied and recorded as done
    again = _resume(out)
    assert again.returncode == 0, again.stderr
    _same_files(ref, out)


def test_sigint_during_validation_with_step_scheduler(tmp_path):
    extra = ('--epochs', '4', '--scheduler', 'step', '--optimizer', 'sgd')
    straight, ref = _sub_train(tmp_path, 'straight', *extra)
    assert straight.returncode == 0, straight.stderr
    res, out = _sub_train(tmp_path, 'cut', *extra, fault='sigint@validate:1')
    assert res.returncode == 130, res.stderr
    again = _resume(out)
    assert again.returncode == 0, again.stderr
    assert 'train_loss 0.0000' not in again.stdout and ' 0 samples/s' not in again.stdout
    assert [m['epoch'] for m in json.load(open(out / 'metrics.json'))] == [1, 2, 3, 4]
    _same_files(ref, out)  # includes the learning rate of every epoch: the scheduler stepped once per epoch


def test_sigint_during_end_of_epoch_checkpoint(tmp_path):
    extra = ('--epochs', '3', '--scheduler', 'step')
    straight, ref = _sub_train(tmp_path, 'straight', *extra)
    res, out = _sub_train(tmp_path, 'cut', *extra, fault='sigint@before_checkpoint:2')
    assert res.returncode == 130, res.stderr
    assert ember.load(str(out / 'checkpoint.safetensors'))['epoch'] == 2
    again = _resume(out)
    assert again.returncode == 0, again.stderr
    assert [m['epoch'] for m in json.load(open(out / 'metrics.json'))] == [1, 2, 3]
    _same_files(ref, out)


@pytest.mark.parametrize('point', ['before_checkpoint', 'after_checkpoint'])
def test_sigkill_around_the_checkpoint_write(tmp_path, point):
    straight, ref = _sub_train(tmp_path, 'straight', '--epochs', '3')
    res, out = _sub_train(tmp_path, 'killed', '--epochs', '3', fault=f'kill@{point}:2')
    assert res.returncode == 137
    again = _resume(out)
    assert again.returncode == 0, again.stderr
    _same_files(ref, out)


def test_interrupt_inside_the_update_is_not_saved(tmp_path, monkeypatch, capsys):
    """A KeyboardInterrupt that lands inside optimizer.step() (a second Ctrl-C) cannot be saved consistently:
    the last checkpoint (end of epoch 1) stays, and resuming from it ends with the uninterrupted weights."""
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
    assert 'not saved' in capsys.readouterr().err
    state = ember.load(str(out / 'checkpoint.safetensors'))
    assert (state['epoch'], state['batch']) == (1, 0)
    monkeypatch.setattr(ember.optim.Adam, 'step', real_step)
    assert cli.main(['train', '--resume', str(out), '--no-progress']) == 0
    assert _same(_weights(tmp_path / 'straight'), _weights(out))


def test_checkpoint_is_one_file_and_legacy_two_file_checkpoints_resume(tmp_path):
    assert _train(tmp_path, 'straight', '--epochs', '2')[0] == 0
    code, out = _train(tmp_path, 'old', '--epochs', '1')
    ck = ember.load(str(out / 'checkpoint.safetensors'))
    assert ck['format'] == 'ember-train-checkpoint/1' and ck['epoch'] == 1
    # rewrite it in the layout of earlier versions: weights and train state in two files
    ember.save(ck['model'], str(out / 'model.safetensors'))
    ember.save({'optimizer': ck['optimizer'], 'scheduler': None, 'epoch': 1, 'batch': 0, 'metrics': ck['metrics']},
               str(out / 'train_state.safetensors'))
    os.unlink(out / 'checkpoint.safetensors')
    assert cli.main(['train', '--resume', str(out), '--epochs', '2', '--no-progress']) == 0
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
    assert 'checkpoint.safetensors' in err and 'no such folder' in err


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


def test_info_imports_no_optional_package():
    """`ember info` reads versions from package metadata: importing torch, matplotlib... took seconds."""
    code = ('import sys; from ember.app.cli import main; main(["info"]); '
            'print("IMPORTED", sorted(m for m in ("torch", "sklearn", "matplotlib", "onnxruntime", "onnx", '
            '"tensorboard", "mpi4py", "tqdm", "graphviz", "hypothesis") if m in sys.modules))')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert 'IMPORTED []' in res.stdout


def test_tutorial_sections_losses_fall():
    from ember.app import tutorial
    res = tutorial.run([4, 5, 6], quiet=True)
    assert res[4][-1] < res[4][0] / 100
    for name, losses in res[5].items():
        assert losses[-1] < losses[0], name
    assert res[6][-1] < res[6][0] / 100


def test_tutorial_command_runs_one_section(capsys):
    assert cli.main(['tutorial', '--section', '3']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith('== Section 3') and lines[-1].startswith('step 500/500  loss ')
    assert [ln.split()[1] for ln in lines[1:]] == ['100/500', '200/500', '300/500', '400/500', '500/500']


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
    from ember.app import viz
    lin = ember.nn.Linear(3, 2)
    loss = lin(ember.randn(4, 3)).sum()
    dot = viz.make_dot(loss, params=dict(lin.named_parameters()))
    assert isinstance(dot, graphviz.Digraph)
    assert 'weight' in dot.source and 'bias' in dot.source


# ---- the command as users meet it (issue 15) -------------------------------------------------------------------

def _model_file(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def test_error_in_model_file_shows_its_traceback(tmp_path):
    fwd = _model_file(tmp_path, 'raises_fwd.py', 'import ember.nn as nn\n\nclass Net(nn.Module):\n'
                      '    def __init__(self, input_shape, num_classes):\n        super().__init__()\n'
                      '        self.fc = nn.Linear(64, num_classes)\n\n    def forward(self, x):\n'
                      '        return self.fc(x)  # forgot to flatten\n')
    res = _ember('train', '--model', fwd, '--out', str(tmp_path / 'o'), *QUICK)
    assert res.returncode == 1
    assert 'Traceback' in res.stderr and f'File "{fwd}", line 9, in forward' in res.stderr
    assert 'cli.py' not in res.stderr and 'training.py' not in res.stderr
    assert 'RuntimeError' in res.stderr.splitlines()[-1]
    assert not (tmp_path / 'o').exists()  # failed in its first forward: no half-made run folder


def test_type_error_inside_model_init_is_not_hidden(tmp_path):
    bad = _model_file(tmp_path, 'bad_kw.py', 'import ember.nn as nn\n\nclass Net(nn.Module):\n'
                      '    def __init__(self, input_shape, num_classes):\n        super().__init__()\n'
                      '        self.fc = nn.Linear(64, num_classes, biass=False)\n')
    res = _ember('train', '--model', bad, '--out', str(tmp_path / 'o'), *QUICK)
    assert res.returncode == 1
    assert "unexpected keyword argument 'biass'" in res.stderr and 'missing' not in res.stderr
    assert f'File "{bad}", line 6, in __init__' in res.stderr


def test_model_file_written_for_pytorch(tmp_path):
    path = _model_file(tmp_path, 'torch_model.py', 'import torch\nimport torch.nn as nn\n'
                       'import torch.nn.functional as F\n\nclass Net(nn.Module):\n    def __init__(self):\n'
                       '        super().__init__()\n        self.fc = nn.Linear(64, 10)\n\n'
                       '    def forward(self, x):\n        return F.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)\n')
    res = _ember('train', '--model', path, '--epochs', '1', '--out', str(tmp_path / 'o'), *QUICK)
    assert res.returncode == 0, res.stderr
    assert 'model: ' in res.stdout and '650 parameters' in res.stdout


@pytest.mark.parametrize('flags, needle', [
    (['--lr', '0.5'], '--lr 0.5 conflicts'),
    (['--optimizer', 'sgd'], '--optimizer sgd conflicts'),
    (['--batch-size', '16'], '--batch-size 16 conflicts'),
    (['--epochs', '1'], '--epochs 1 is fewer'),
    (['--out', 'elsewhere'], '--out elsewhere conflicts'),
])
def test_resume_refuses_conflicting_flags(tmp_path, flags, needle):
    res, out = _sub_train(tmp_path, 'run', '--epochs', '2')
    assert res.returncode == 0, res.stderr
    config = (out / 'config.json').read_text()
    res = _resume(out, *flags)
    assert res.returncode == 2 and needle in res.stderr, res.stderr
    assert (out / 'config.json').read_text() == config


def test_resume_epochs_rules(tmp_path):
    res, out = _sub_train(tmp_path, 'run', '--epochs', '2')
    config = (out / 'config.json').read_text()
    res = _resume(out, '--epochs', '2')
    assert res.returncode == 0 and 'nothing to do' in res.stdout
    assert (out / 'config.json').read_text() == config
    res = _resume(out, '--epochs', '3')  # no scheduler: training longer is the same run, said so
    assert res.returncode == 0 and 'the run was started with --epochs 2' in res.stdout
    assert json.load(open(out / 'config.json'))['epochs'] == 3
    res, sched = _sub_train(tmp_path, 'sched', '--epochs', '2', '--scheduler', 'cosine')
    res = _resume(sched, '--epochs', '4')
    assert res.returncode == 2 and '--scheduler cosine' in res.stderr


def test_numbered_run_folders_and_no_overwrite(tmp_path):
    for n in range(2):
        res = _ember('train', *QUICK, '--epochs', '1', cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert f'runs/ember-train/version_{n}' in res.stdout
    assert sorted(p.name for p in (tmp_path / 'runs' / 'ember-train').iterdir()) == ['version_0', 'version_1']
    run = tmp_path / 'runs' / 'ember-train' / 'version_0'
    before = (run / 'model.safetensors').read_bytes()
    res = _ember('train', *QUICK, '--epochs', '1', '--out', str(run))
    assert res.returncode == 2 and 'already holds a run' in res.stderr and '--resume' in res.stderr
    assert (run / 'model.safetensors').read_bytes() == before


def test_outputs_are_written_by_rename(tmp_path, monkeypatch):
    from ember.app import training_io
    renamed = []
    real = training_io.os.replace

    def recording_replace(src, dst):
        renamed.append(os.path.basename(dst))
        return real(src, dst)
    monkeypatch.setattr(training_io.os, 'replace', recording_replace)
    assert _train(tmp_path, 'run', '--epochs', '1')[0] == 0
    assert {'metrics.json', 'metrics.csv', 'config.json', 'command.txt', 'curves.png'} <= set(renamed)
    assert not [p for p in os.listdir(tmp_path / 'run') if p.endswith('.tmp')]


def test_usage_errors_name_the_flag_and_the_command():
    res = _ember('train', '--lr', '-1')
    assert res.returncode == 2 and 'argument --lr: must be positive' in res.stderr
    res = _ember('train', '--frobnicate')
    assert res.returncode == 2 and 'usage: ember train' in res.stderr
    assert 'unrecognized arguments: --frobnicate' in res.stderr
    res = _ember('--version')
    assert res.returncode == 0 and res.stdout.strip() == f'ember {ember.__version__}'
    res = _ember('train', '--help')
    assert res.returncode == 0 and '(default: 64)' in res.stdout and 'examples:' in res.stdout
    assert 'ember train --resume' in res.stdout


def _run_on_terminal(args, cols=80, fault=None):
    """Run `ember ARGS` with stdout and stderr on a pseudo-terminal COLS wide; returns what it displayed."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, cols, 0, 0))
    env = dict(os.environ, COLUMNS=str(cols))
    env.pop('EMBER_TRAIN_FAULT', None)
    if fault:
        env['EMBER_TRAIN_FAULT'] = fault
    proc = subprocess.Popen([sys.executable, '-m', 'ember', *args], stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    return proc.returncode, b''.join(chunks).decode()


def _screen_lines(raw):
    """The lines a terminal would show: carriage returns and erase-line codes applied."""
    lines = []
    for line in raw.replace('\r\n', '\n').split('\n'):
        shown = line.split('\r')[-1].replace('\x1b[K', '')
        lines.append(shown)
    return [ln for ln in lines if ln]


@pytest.mark.skipif(not hasattr(os, 'openpty'), reason='needs a pseudo-terminal')
def test_progress_on_an_80_column_terminal(tmp_path):
    code, raw = _run_on_terminal(['train', '--out', str(tmp_path / 'o'), '--limit', '640', '--batch-size', '32',
                                  '--epochs', '2'])
    assert code == 0, raw
    for seg in raw.replace('\r\n', '\n').replace('\n', '\r').split('\r'):
        if seg.startswith('epoch '):  # the bar and the per-epoch lines fit: nothing wraps or is cut
            assert len(seg.replace('\x1b[K', '')) < 80, seg
    assert '[#' in raw  # a bar was drawn while the epoch ran
    shown = _screen_lines(raw)
    for e in (1, 2):
        assert len([ln for ln in shown if ln.startswith(f'epoch {e}/2')]) == 1, shown  # once per epoch
        assert [ln for ln in shown if ln.startswith(f'epoch {e}/2  train_loss')]
    assert any('val_acc' in ln for ln in shown)


def test_no_progress_bar_when_output_is_not_a_terminal(tmp_path):
    res, out = _sub_train(tmp_path, 'o', '--epochs', '1')
    args = ['train', '--out', str(tmp_path / 'p'), '--limit', '160', '--batch-size', '32', '--epochs', '1']
    res = _ember(*args)
    assert res.returncode == 0
    assert '\r' not in res.stdout and '[#' not in res.stdout and '\x1b' not in res.stdout
    assert res.stdout.count('epoch 1/1') == 1


@pytest.mark.skipif(not hasattr(os, 'openpty'), reason='needs a pseudo-terminal')
def test_no_stale_bar_after_ctrl_c(tmp_path):
    args = ['train', '--out', str(tmp_path / 'o'), '--limit', '320', '--batch-size', '32', '--epochs', '1']
    code, raw = _run_on_terminal(args, fault='sigint@after_step:0:3')
    assert code == 130, raw
    after = raw[raw.index('Ctrl-C'):]
    assert '[#' not in after and 'interrupted: checkpoint saved' in after


@needs_torch
def test_bench_cnn_runs_with_its_own_argv(tmp_path):
    out = tmp_path / 'cnn.json'
    res = _ember('bench', 'cnn', '--json', str(out), '--args', '--iters 1 --rounds 1 --batch 8', timeout=600)
    assert res.returncode == 0, res.stderr
    rows = json.load(open(out))
    assert rows and all(r['workload'].startswith('cnn: ') and r['ember_ms'] > 0 for r in rows)
    assert 'unrecognized arguments' not in res.stderr


def test_best_checkpoint_holds_the_best_epochs_weights(tmp_path):
    code, out = _train(tmp_path, 'run', '--epochs', '4', '--lr', '0.5', '--optimizer', 'sgd')
    assert code == 0
    from ember.app.training import build_model, evaluate, load_data
    from ember.utils.data import DataLoader
    metrics = json.load(open(out / 'metrics.json'))
    best = max(m['val_accuracy'] for m in metrics)
    _, test_set, shape, n = load_data('digits', 'data', 160)
    model = build_model('mlp', shape, n)
    model.load_state_dict(ember.load(str(out / 'best.safetensors')))
    assert evaluate(model, DataLoader(test_set, batch_size=256), ember.device('cpu'))[1] == best
    assert ember.load(str(out / 'checkpoint.safetensors'))['best']['val_accuracy'] == best


def test_core_does_not_import_the_app():
    """The application (ember/app: the command, training, tutorial, ...) sits above the library: no module outside
    it imports it, except the two compatibility entry points and `python -m ember`."""
    import ast
    import pathlib
    root = pathlib.Path(ember.__file__).parent
    allowed = {root / 'cli.py', root / 'runner.py', root / '__main__.py', root / '_shim' / 'torch' / '__init__.py'}
    offenders = []
    for path in root.rglob('*.py'):
        if root / 'app' in path.parents or path in allowed:
            continue
        pkg = path.parent.relative_to(root.parent).parts
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = list(pkg[:len(pkg) - node.level + 1]) if node.level else []
                mod = '.'.join(base + ([node.module] if node.module else []))
                names = [mod] + [f'{mod}.{a.name}' for a in node.names]
            if any(n == 'ember.app' or n.startswith('ember.app.') for n in names):
                offenders.append(f'{path.relative_to(root)}:{node.lineno}')
    assert not offenders, offenders


def test_distributed_ctrl_c_on_one_rank_stops_all_at_the_same_batch(tmp_path):
    pytest.importorskip('mpi4py')
    args = ('--distributed', '-n', '2', '--epochs', '2')
    straight, ref = _sub_train(tmp_path, 'straight', *args)
    assert straight.returncode == 0, straight.stderr
    out = tmp_path / 'cut'
    res = _ember('train', '--out', str(out), *QUICK, *args,
                 env={'EMBER_TRAIN_FAULT': 'sigint@after_step:1:1', 'EMBER_TRAIN_FAULT_RANK': '1'})
    assert res.returncode != 0
    assert 'checkpoint saved' in res.stderr, res.stderr
    state = ember.load(str(out / 'checkpoint.safetensors'))
    assert (state['epoch'], state['batch']) == (1, 2)
    again = _ember('train', '--resume', str(out), '--no-progress', '--distributed', '-n', '2')
    assert again.returncode == 0, again.stderr
    _same_files(ref, out)


def test_failed_run_in_a_numbered_folder_leaves_nothing(tmp_path):
    bad = _model_file(tmp_path, 'bad.py', 'import ember.nn as nn\n\nclass Net(nn.Module):\n'
                      '    def __init__(self, input_shape, num_classes):\n        super().__init__()\n'
                      '        self.fc = nn.Linear(3, num_classes)\n\n    def forward(self, x):\n'
                      '        return self.fc(x)\n')
    res = _ember('train', '--model', bad, *QUICK, cwd=tmp_path)
    assert res.returncode == 1
    root = tmp_path / 'runs' / 'ember-train'
    assert not root.exists() or not list(root.iterdir())
    res = _ember('train', *QUICK, '--epochs', '1', cwd=tmp_path)
    assert res.returncode == 0 and 'version_0' in res.stdout


def test_every_bench_group_has_its_entry_point():
    """`ember bench NAME` runs benchmarks/bench_NAME.py in a fresh process with the script's own argv and calls
    its ENTRY function: each must exist (bench cnn once crashed parsing the CLI's argv)."""
    import ast
    import pathlib
    from ember.app import bench
    root = pathlib.Path(__file__).resolve().parents[1] / 'benchmarks'
    for name in bench.BENCHES:
        tree = ast.parse((root / f'bench_{name}.py').read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert bench.ENTRY[name] in defined, name
