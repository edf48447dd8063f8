"""ember.special: PyTorch's torch.special namespace (SciPy's special functions on cpu, CuPy's on cuda)."""
from .ops.special import (erf, erfc, erfinv, erfcx, digamma, polygamma, i0, i1, i0e, i1e, ndtr, ndtri,  # noqa: F401
                          log_ndtr, entr, lgamma as gammaln, mvlgamma as _mvlgamma, igamma as gammainc,
                          igammac as gammaincc)
from .ops.math_extra import sinc, logit, xlogy, exp2  # noqa: F401
from .ops.elementwise import sigmoid as expit, expm1, log1p, round  # noqa: F401
from .ops.reduce import logsumexp, softmax, log_softmax  # noqa: F401

psi = digamma


def multigammaln(input, p):
    return _mvlgamma(input, p)
