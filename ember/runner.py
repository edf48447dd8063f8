"""Compatibility: `python -m ember.runner script.py` (documented) runs ember.app.runner."""
import sys

from .app.runner import install_torch_alias, main, run_script  # noqa: F401

if __name__ == '__main__':
    from . import _allocator
    _allocator.apply()  # this process is ember's, as under `ember run`
    sys.exit(run_script(sys.argv[1:]) or 0)
