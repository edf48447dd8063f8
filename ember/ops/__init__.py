"""Every op's forward and backward, grouped by kind; each op is one small function next to its gradient."""
from . import elementwise, reduce, shape, index, linalg, sorting, convert  # noqa: F401
