"""ember.nn: Module, Parameter, layers, losses, init and utilities, as in torch.nn."""
from .parameter import Parameter, Buffer, UninitializedParameter  # noqa: F401
from .modules import *  # noqa: F401,F403
from . import functional, init, utils  # noqa: F401
from .parallel import DataParallel  # noqa: F401,E402


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)
    raise AttributeError(f"module 'ember.nn' has no attribute '{name}' (torch.nn.{name} is not supported by ember)")
