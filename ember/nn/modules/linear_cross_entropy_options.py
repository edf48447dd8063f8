"""ember.nn.LinearCrossEntropyOptions: PyTorch's chunking options of linear_cross_entropy (accepted; ember computes
the reference formula, so they change neither the loss nor its gradients)."""
import dataclasses

__all__ = ['LinearCrossEntropyOptions']


@dataclasses.dataclass(frozen=True)
class LinearCrossEntropyOptions:
    allow_retain_graph: bool = False
    batch_chunk_size: 'int | None' = None
    chunking_method: 'str | None' = 'auto'
    acc_policy: str = 'auto'
    acc_dtype: object = None

    def __post_init__(self):
        if self.acc_policy not in ('accurate', 'balanced', 'compact', 'auto'):
            raise ValueError(f'invalid acc_policy: {self.acc_policy!r}')
        if self.batch_chunk_size is not None and (not isinstance(self.batch_chunk_size, int)
                                                  or self.batch_chunk_size <= 0):
            raise ValueError(f'batch_chunk_size must be positive int or None, got {self.batch_chunk_size}')
