"""`ember run [-n N] script.py args`: run a script with `torch` resolving to ember, optionally under MPI."""
import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys
import traceback

SHIM_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '_shim')


class _TorchAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolve `torch` and `torch.x.y` to `ember` and `ember.x.y`; name what ember lacks."""

    def find_spec(self, name, path=None, target=None):
        if name != 'torch' and not name.startswith('torch.'):
            return None
        real = 'ember' + name[len('torch'):]
        try:
            found = importlib.util.find_spec(real)
        except ModuleNotFoundError:
            found = None
        if found is None:
            raise ModuleNotFoundError(f"No module named '{name}': {name} is not supported by ember", name=name)
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        if spec.name == 'torch':  # ember's namespace with PyTorch's __version__ (ember/_alias.py)
            from ember._alias import torch_module
            return torch_module()
        return importlib.import_module('ember' + spec.name[len('torch'):])

    def exec_module(self, module):
        pass


def install_torch_alias():
    """Make `import torch` (and every torch.* submodule) give ember's, in this process and its children."""
    if not any(isinstance(f, _TorchAlias) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchAlias())
    paths = os.environ.get('PYTHONPATH', '')
    if SHIM_DIR not in paths.split(os.pathsep):
        os.environ['PYTHONPATH'] = SHIM_DIR + (os.pathsep + paths if paths else '')
    from ember._alias import torch_module
    sys.modules.setdefault('torch', torch_module())


def _usage():
    print('usage: ember run [-n N] [launcher options] SCRIPT.py [ARGS...]\n  runs SCRIPT with `import torch` '
          'resolving to ember; with -n N, as N MPI processes (see `ember run -n 1 --help` for launcher options)',
          file=sys.stderr)


def main(argv):
    """`ember run script.py args` runs here; with launcher options (-n N, --hostfile, ...) under MPI."""
    argv = list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        _usage()
        return 0 if argv else 2
    if argv[0].startswith('-'):
        # every rank resolves `import torch` to ember through the shim on PYTHONPATH, and, being a process
        # ember started, tunes malloc at import (see ember/_allocator.py)
        install_torch_alias()
        os.environ.setdefault('EMBER_MALLOPT', '1')
        from ember.distributed.run import main as dist_main
        return dist_main(argv)
    if not os.path.isfile(argv[0]):
        print(f"ember run: error: script '{argv[0]}' not found", file=sys.stderr)
        return 2
    return run_script(argv)


def run_script(argv):
    install_torch_alias()
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
    try:
        runpy.run_path(argv[0], run_name='__main__')
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # as Python would report it, but starting at the script (no launcher frames)
        script, tb = os.path.abspath(argv[0]), e.__traceback__
        while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != script:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb or e.__traceback__)
        return 130 if isinstance(e, KeyboardInterrupt) else 1
    return 0


if __name__ == '__main__':
    from ember import _allocator
    _allocator.apply()  # `python -m ember.runner` owns its process, as `ember run` does
    sys.exit(run_script(sys.argv[1:]) or 0)
