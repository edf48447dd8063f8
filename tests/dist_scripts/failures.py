"""Failure cases, one per argv[1]: each must end the whole job promptly with a message naming the rank."""
import os
import sys
import time

import ember
import ember.distributed as dist

mode = sys.argv[1]
if mode == 'preinit' and int(os.environ.get('RANK', '0')) == 1:
    raise ValueError('rank 1 failed before init_process_group')
dist.init_process_group(timeout=2 if mode == 'hang' else None)
r = dist.get_rank()
dist.barrier()
if mode in ('sigkill', 'wait', 'abort'):  # record pid, parent, MPI and its segments in argv[2]; fail or wait
    from mpi4py import MPI
    maps = open('/proc/self/maps').read().splitlines() if os.path.exists('/proc/self/maps') else []  # Linux
    segs = sorted({line.split()[-1] for line in maps if '/dev/shm/mpich_shm_' in line
                   and not line.rstrip().endswith('(deleted)')})
    out = os.path.join(sys.argv[2], f'rank{r}')
    with open(out + '.tmp', 'w') as f:
        lib = 'mpich' if MPI.Get_library_version().startswith('MPICH') else 'other'
        f.write(' '.join([str(os.getpid()), str(os.getppid()), lib] + segs) + '\n')
    os.replace(out + '.tmp', out)
    dist.barrier()  # both recorded before anyone fails
    if r == 1 and mode == 'sigkill':
        os.kill(os.getpid(), 9)
    if r == 1 and mode == 'abort':
        raise RuntimeError('boom from rank 1')
    time.sleep(120)
if mode == 'extra':  # rank 0 makes one collective call more than rank 1, whose script then ends
    dist.all_reduce(ember.ones(3))
    if r == 0:
        dist.all_reduce(ember.ones(3))
    sys.exit(0)
if r == 1:
    if mode == 'raise':
        raise RuntimeError('boom from rank 1')
    if mode == 'exit':
        sys.exit(3)
    if mode == 'hang':
        time.sleep(120)  # skips the collective below: the others' watchdog ends the job
t = ember.ones(3)
dist.all_reduce(t)  # rank 0 waits here for a rank that will never come
time.sleep(120)
