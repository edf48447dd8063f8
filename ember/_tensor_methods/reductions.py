"""Tensor methods of the reductions, scans and sorting ops (ember/ops/reduce, reduce_extra, sorting, hashing)."""
from ..ops import sorting as O, reduce as R, reduce_extra as RX, hashing as HS


class ReductionMethods:
    """Mixed into ember.Tensor: `name = op` binds an op whose parameters are already PyTorch's (no extra call);
    a `def` renames the op's short parameter names (a, b) to the method's PyTorch names."""
    __slots__ = ()

    all = R.all
    amax = R.amax
    amin = R.amin
    aminmax = RX.aminmax
    any = R.any
    argmax = R.argmax
    argmin = R.argmin
    argsort = O.argsort
    bincount = O.bincount
    corrcoef = RX.corrcoef
    count_nonzero = R.count_nonzero
    cov = RX.cov
    cummax = RX.cummax
    cummin = RX.cummin
    cumprod = R.cumprod
    cumsum = R.cumsum
    diff = RX.diff
    dist = RX.dist
    histc = O.histc
    histogram = RX.histogram
    isin = RX.isin
    kthvalue = O.kthvalue
    log_softmax = R.log_softmax
    logcumsumexp = RX.logcumsumexp
    logsumexp = R.logsumexp
    max = R.max
    mean = R.mean
    median = O.median
    min = R.min
    mode = RX.mode
    msort = RX.msort
    nanmean = RX.nanmean
    nanquantile = RX.nanquantile
    nansum = RX.nansum
    norm = R.norm
    prod = R.prod
    quantile = RX.quantile
    renorm = RX.renorm
    softmax = R.softmax
    sort = O.sort
    std = R.std
    sum = R.sum
    topk = O.topk
    trace = RX.trace
    unique = O.unique
    unique_consecutive = RX.unique_consecutive
    var = R.var
    hash_tensor = HS.hash_tensor
