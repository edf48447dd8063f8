"""Failure cases, one per argv[1]: each must end the whole job promptly with a message naming the rank."""
import sys
import time

import ember
import ember.distributed as dist

mode = sys.argv[1]
if mode == 'preinit' and int(__import__('os').environ.get('RANK', '0')) == 1:
    raise ValueError('rank 1 failed before init_process_group')
dist.init_process_group(timeout=2 if mode == 'hang' else None)
r = dist.get_rank()
dist.barrier()
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
