"""ember.nn: Module, Parameter, layers, losses, init and utilities, as in torch.nn."""
from .parameter import Parameter, Buffer, UninitializedParameter  # noqa: F401
from .modules import *  # noqa: F401,F403
from . import functional, init, utils  # noqa: F401
from .parallel import DataParallel  # noqa: F401,E402
