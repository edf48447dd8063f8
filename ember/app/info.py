"""`ember info`: ember, Python, NumPy (BLAS, threads), optional packages and devices, like torch's collect_env."""
import importlib.metadata
import os
import platform
import sys

# distribution names, read from installed metadata: importing torch, matplotlib or onnxruntime only to print a
# version took seconds
OPTIONAL = ['cupy', 'mpi4py', 'mpich', 'safetensors', 'onnx', 'onnxruntime', 'torch', 'matplotlib', 'tensorboard',
            'graphviz', 'hypothesis']
CUPY = ['cupy-cuda13x', 'cupy-cuda12x', 'cupy-cuda11x', 'cupy']


def _version(name):
    for dist in (CUPY if name == 'cupy' else [name]):
        try:
            return importlib.metadata.version(dist) + (f' ({dist})' if name == 'cupy' else '')
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _blas():
    try:
        from threadpoolctl import threadpool_info
        infos = [i for i in threadpool_info() if i.get('user_api') == 'blas']
        if infos:
            i = infos[0]
            return f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads, " \
                   f"{i.get('architecture')})"
    except Exception:
        pass
    try:
        import numpy as np
        cfg = np.show_config(mode='dicts')
        b = cfg['Build Dependencies']['blas']
        return f"{b.get('name')} {b.get('version')}"
    except Exception:
        return 'unknown'


def _gpus():
    if _version('cupy') is None:
        return [], None
    try:
        import cupy
        n = cupy.cuda.runtime.getDeviceCount()
        out = []
        for i in range(n):
            props = cupy.cuda.runtime.getDeviceProperties(i)
            name = props['name'].decode() if isinstance(props['name'], bytes) else props['name']
            out.append(f'cuda:{i} {name} ({props["totalGlobalMem"] / 2**30:.1f} GiB)')
        rt = cupy.cuda.runtime.runtimeGetVersion()
        return out, f'{rt // 1000}.{rt % 1000 // 10}'
    except Exception:
        return [], None


def collect():
    import numpy as np
    import ember
    from .._allocator import state
    gpus, cuda = _gpus()
    return {
        'ember': ember.__version__, 'python': sys.version.split()[0], 'platform': platform.platform(),
        'numpy': np.__version__, 'blas': _blas(), 'cpu_count': os.cpu_count(),
        'allocator': state['reason'], 'optional': {k: _version(k) for k in OPTIONAL},
        'devices': ['cpu'] + gpus, 'cuda_runtime': cuda,
    }


def format_info(info):
    lines = [f"ember version: {info['ember']}", f"Python version: {info['python']}",
             f"OS: {info['platform']}", f"NumPy version: {info['numpy']}", f"BLAS: {info['blas']}",
             f"CPU cores: {info['cpu_count']}", f"malloc tuning for large temporaries: {info['allocator']}",
             f"CUDA runtime (CuPy): {info['cuda_runtime'] or 'not available'}",
             'Devices: ' + ', '.join(info['devices']), 'Optional packages:']
    for k, v in info['optional'].items():
        lines.append(f'  {k:12s} {v if v else "not installed"}')
    return '\n'.join(lines)
