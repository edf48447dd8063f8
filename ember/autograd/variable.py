"""torch.autograd.variable's path: the deprecated Variable (defined in ember.autograd)."""
from . import Variable  # noqa: F401
