"""ember.utils.tensorboard (torch.utils.tensorboard's SummaryWriter) and `ember train --tensorboard`."""
import os
import subprocess
import sys
import textwrap

import pytest

import ember

tb = pytest.importorskip('tensorboard', reason='the tensorboard package is an optional extra')


def _events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return acc


def test_summary_writer_writes_scalars_histograms_text(tmp_path):
    from ember.utils.tensorboard import SummaryWriter
    with SummaryWriter(str(tmp_path)) as w:
        assert w.get_logdir() == str(tmp_path)
        for step in range(3):
            w.add_scalar('loss', ember.tensor(1.0 / (step + 1)), step)
        w.add_scalar('lr', 0.5, 7)
        w.add_histogram('weights', ember.arange(10.0), 0)
        w.add_text('note', 'hello', 0)
        w.add_scalars('run', {'a': 1.0, 'b': ember.tensor([2.0])}, 0)
    acc = _events(tmp_path)
    assert [(e.step, round(e.value, 6)) for e in acc.Scalars('loss')] == [(0, 1.0), (1, 0.5), (2, 0.333333)]
    assert [(e.step, e.value) for e in acc.Scalars('lr')] == [(7, 0.5)]
    h = acc.Histograms('weights')[0].histogram_value
    assert (h.min, h.max, h.num, h.sum) == (0.0, 9.0, 10, 45.0)
    assert sorted(os.listdir(tmp_path / 'run_a')) and [e.value for e in _events(tmp_path / 'run_b').Scalars('run')] \
        == [2.0]
    with pytest.raises(ValueError, match='one-element'):
        SummaryWriter(str(tmp_path / 'x')).add_scalar('bad', ember.ones(3))


def test_missing_tensorboard_names_the_extra():
    code = "import sys; sys.modules['tensorboard'] = None\nimport ember.utils.tensorboard"
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert "pip install 'ember[tensorboard]'" in res.stderr.splitlines()[-1]


def test_torch_utils_tensorboard_under_ember_run(tmp_path):
    script = tmp_path / 's.py'
    script.write_text(textwrap.dedent(f'''
        import torch
        from torch.utils.tensorboard import SummaryWriter
        w = SummaryWriter({str(tmp_path / 'logs')!r})
        w.add_scalar('loss', torch.tensor(0.25), 1)
        w.close()
        print(type(w).__module__)
    '''))
    res = subprocess.run([sys.executable, '-m', 'ember', 'run', str(script)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == 'ember.utils.tensorboard.writer'
    assert [e.value for e in _events(tmp_path / 'logs').Scalars('loss')] == [0.25]


def test_ember_train_tensorboard(tmp_path):
    out = tmp_path / 'run'
    res = subprocess.run([sys.executable, '-m', 'ember', 'train', '--out', str(out), '--limit', '160',
                          '--batch-size', '32', '--epochs', '2', '--tensorboard'], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    acc = _events(out / 'tensorboard')
    assert {'train_loss', 'val_loss', 'val_accuracy', 'lr'} <= set(acc.Tags()['scalars'])
    assert [e.step for e in acc.Scalars('val_accuracy')] == [1, 2]
