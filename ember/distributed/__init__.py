"""ember.distributed: multi-process data-parallel training on MPI (or NCCL for CUDA), with torch.distributed's API."""
import os as _os

from .distributed_c10d import *  # noqa: F401,F403
from .distributed_c10d import _all_gather_base, _reduce_scatter_base  # noqa: F401
from . import _backend


def _export_env():
    """Under an MPI launcher, set RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE from MPI's numbering, as torchrun
    does, so scripts that read them before init_process_group run unchanged under ``mpiexec``."""
    got = _backend.launcher_env()
    if got is None or got[0] is None:
        return
    rank, size = got
    env = _os.environ
    env['RANK'] = str(rank)
    if size:
        env['WORLD_SIZE'] = str(size)
    for r, s in (('OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_SIZE'), ('MPI_LOCALRANKID', 'MPI_LOCALNRANKS'),
                 ('MV2_COMM_WORLD_LOCAL_RANK', 'MV2_COMM_WORLD_LOCAL_SIZE'), ('SLURM_LOCALID', None)):
        if r in env:
            env['LOCAL_RANK'] = env[r]
            if s and s in env:
                env['LOCAL_WORLD_SIZE'] = env[s]
            break


_export_env()
