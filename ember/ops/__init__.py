"""Every op's forward and backward, grouped by kind; each op is one small function next to its gradient."""
from . import elementwise, reduce, shape, index, linalg, sorting, convert, inplace  # noqa: F401


def __getattr__(name):  # torch.ops.aten, loaded on first use
    if name == 'aten':
        import importlib
        return importlib.import_module(__name__ + '.aten')
    raise AttributeError(f"module 'ember.ops' has no attribute '{name}'")
