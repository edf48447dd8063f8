"""`ember bench`: run the benchmarks/ scripts of a source checkout, each in its own process with its own argv."""
import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile

BENCHES = ['core', 'nn', 'cnn', 'optim', 'lstm', 'gpt', 'rng', 'distributed']
# the function of each script that runs it and returns its rows (a list of dicts; None for a printed-only report)
ENTRY = {'core': 'run', 'nn': 'run', 'cnn': 'main', 'optim': 'run', 'lstm': 'run', 'gpt': 'run', 'rng': 'run',
         'distributed': 'main'}

# Runs in a fresh interpreter: the script sees only its own argv (never the `ember bench ...` command line), and
# thread settings it makes before importing NumPy take effect.
_DRIVER = """
import json, runpy, sys, os
path, entry, out = sys.argv[1:4]
sys.argv = [path] + sys.argv[4:]
sys.path.insert(0, os.path.dirname(path))
rows = runpy.run_path(path, run_name='__ember_bench__')[entry]()
with open(out, 'w') as f:
    json.dump(rows if isinstance(rows, list) else [], f)
"""


def _bench_dir():
    here = pathlib.Path(__file__).resolve().parents[2] / 'benchmarks'
    if not here.is_dir():
        raise RuntimeError(f'benchmarks/ not found next to the ember package ({here}); `ember bench` runs from a '
                           f'source checkout installed with pip install -e .')
    return here


def run_benchmarks(names=None, json_path=None, md_path=None, script_args=''):
    from .cli import UsageError
    names = names or [n for n in BENCHES if n != 'distributed']
    bad = [n for n in names if n not in BENCHES]
    if bad:
        raise UsageError(f"unknown benchmark {', '.join(bad)}; choose from {', '.join(BENCHES)}")
    d = _bench_dir()
    extra = shlex.split(script_args or '')
    rows, failed = [], []
    for n in names:
        path = d / f'bench_{n}.py'
        if not path.exists():
            print(f'(skipping {n}: {path.name} not present)')
            continue
        fd, out = tempfile.mkstemp(suffix='.json')
        os.close(fd)
        try:
            # a process ember starts: malloc tuned as in the `ember` command (ember/_allocator.py)
            env = dict(os.environ, EMBER_MALLOPT=os.environ.get('EMBER_MALLOPT', '1'))
            code = subprocess.call([sys.executable, '-c', _DRIVER, str(path), ENTRY[n], out, *extra], env=env)
            if code:
                failed.append(f'{n} (exit {code})')
                continue
            with open(out) as f:
                rows += json.load(f)
        finally:
            os.unlink(out)
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(rows, f, indent=2)
    if md_path:
        with open(md_path, 'w') as f:
            f.write(to_markdown(rows))
    if failed:
        print(f"ember bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def to_markdown(rows):
    out = ['| workload | ember ms | PyTorch ms | ratio |', '|---|---:|---:|---:|']
    for r in rows:
        t = f"{r['torch_ms']:.3f}" if r.get('torch_ms') else '-'
        ra = f"{r['ratio']:.2f}" if r.get('ratio') else '-'
        out.append(f"| {r['workload']} | {r['ember_ms']:.3f} | {t} | {ra} |")
    return '\n'.join(out) + '\n'
