"""`ember run`: an unmodified PyTorch-style script (imports torch) runs on ember, in children too."""
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import sys
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = (x.sum(1) > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    first = None
    for epoch in range(20):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            first = first if first is not None else loss.item()
    print('backend', torch.__name__, type(x).__module__)
    print('loss', first, loss.item())
    print('argv', sys.argv[1:])
    import subprocess
    child = subprocess.run([sys.executable, '-c', 'import torch; print(torch.__name__)'], capture_output=True,
                           text=True)
    print('child', child.stdout.strip())
    try:
        torch.definitely_not_a_function
    except AttributeError as e:
        print('missing', e)
''')


def test_unmodified_torch_script_runs_on_ember(tmp_path):
    script = tmp_path / 'train.py'
    script.write_text(SCRIPT)
    res = subprocess.run([sys.executable, '-m', 'ember', 'run', str(script), '--flag', 'x'], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = dict(line.split(' ', 1) for line in res.stdout.strip().splitlines())
    assert lines['backend'].startswith('ember ember.')
    first, last = map(float, lines['loss'].split())
    assert last < first
    assert lines['argv'] == "['--flag', 'x']"
    assert lines['child'] == 'ember'
    assert 'torch.definitely_not_a_function is not supported by ember' in lines['missing']


def test_missing_torch_submodule_is_named(tmp_path):
    script = tmp_path / 's.py'
    script.write_text('import torch.fancy_new_thing\n')
    res = subprocess.run([sys.executable, '-m', 'ember.runner', str(script)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode != 0
    assert 'torch.fancy_new_thing is not supported by ember' in res.stderr


def test_script_exit_code_is_kept(tmp_path):
    script = tmp_path / 'e.py'
    script.write_text('import sys\nsys.exit(3)\n')
    assert subprocess.run([sys.executable, '-m', 'ember', 'run', str(script)], timeout=120).returncode == 3


def test_missing_script_is_a_usage_error(tmp_path):
    res = subprocess.run([sys.executable, '-m', 'ember', 'run', str(tmp_path / 'nope.py')], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and 'not found' in res.stderr


def test_traceback_starts_at_the_script(tmp_path):
    script = tmp_path / 'boom.py'
    script.write_text('def f():\n    raise ValueError("boom")\n\nf()\n')
    res = subprocess.run([sys.executable, '-m', 'ember', 'run', str(script)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines[0] == 'Traceback (most recent call last):'
    assert lines[1].strip().startswith(f'File "{script}", line 4')
    assert 'runpy' not in res.stderr and 'runner.py' not in res.stderr and 'cli.py' not in res.stderr
    assert lines[-1] == 'ValueError: boom'


def test_malloc_tuning_only_where_ember_owns_the_process(tmp_path):
    """Importing ember leaves the host's malloc alone (unless EMBER_MALLOPT=1); `ember run` and the `ember`
    command, which own their process, apply it."""
    import os
    probe = 'import ember._allocator as a; print(a.state["applied"], a.state["reason"])'
    env = {k: v for k, v in os.environ.items() if k not in ('EMBER_MALLOPT', 'EMBER_NO_MALLOPT')}
    res = subprocess.run([sys.executable, '-c', 'import ember; ' + probe], capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.stdout.startswith('False not applied'), res.stdout + res.stderr
    res = subprocess.run([sys.executable, '-c', 'import ember; ' + probe], capture_output=True, text=True,
                         timeout=120, env=dict(env, EMBER_MALLOPT='1'))
    expected = 'True' if sys.platform.startswith('linux') else 'False'
    assert res.stdout.split()[0] == expected
    script = tmp_path / 'probe.py'
    script.write_text(probe + '\n')
    res = subprocess.run([sys.executable, '-m', 'ember', 'run', str(script)], capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.stdout.split()[0] == expected, res.stderr
    res = subprocess.run([sys.executable, '-m', 'ember', 'run', str(script)], capture_output=True, text=True,
                         timeout=120, env=dict(env, EMBER_NO_MALLOPT='1'))
    assert res.stdout.startswith('False disabled'), res.stdout
