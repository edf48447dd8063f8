"""`ember bench`: run the benchmarks/ scripts of a source checkout and gather their side-by-side tables."""
import importlib.util
import json
import pathlib
import sys

BENCHES = ['core', 'nn', 'cnn', 'optim', 'lstm', 'distributed']


def _bench_dir():
    here = pathlib.Path(__file__).resolve().parent.parent / 'benchmarks'
    if not here.is_dir():
        raise RuntimeError(f'benchmarks/ not found next to the ember package ({here}); `ember bench` runs from a '
                           f'source checkout installed with pip install -e .')
    return here


def run_benchmarks(names=None, json_path=None, md_path=None):
    from .cli import UsageError
    names = names or [n for n in BENCHES if n != 'distributed']
    bad = [n for n in names if n not in BENCHES]
    if bad:
        raise UsageError(f"unknown benchmark {', '.join(bad)}; choose from {', '.join(BENCHES)}")
    d = _bench_dir()
    sys.path.insert(0, str(d))
    rows = []
    for n in names:
        path = d / f'bench_{n}.py'
        if not path.exists():
            print(f'(skipping {n}: {path.name} not present)')
            continue
        spec = importlib.util.spec_from_file_location(f'bench_{n}', path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        rows += mod.run() or []
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(rows, f, indent=2)
    if md_path:
        with open(md_path, 'w') as f:
            f.write(to_markdown(rows))
    return 0


def to_markdown(rows):
    out = ['| workload | ember ms | PyTorch ms | ratio |', '|---|---:|---:|---:|']
    for r in rows:
        t = f"{r['torch_ms']:.3f}" if r.get('torch_ms') else '-'
        ra = f"{r['ratio']:.2f}" if r.get('ratio') else '-'
        out.append(f"| {r['workload']} | {r['ember_ms']:.3f} | {t} | {ra} |")
    return '\n'.join(out) + '\n'
