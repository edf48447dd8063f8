#!/usr/bin/env bash
# One GPU check for ember's cuda path, sized for ~8 minutes on an H100 machine (CuPy and PyTorch preinstalled, no
# network): environment, tests/test_cuda_*.py, the whole suite, then benchmarks/bench_gpu.py. Each step has its own
# timeout and a failing step does not stop the later ones. Everything printed is also written to $OUT/gpu_check.log
# when $OUT is set (the device runner brings that folder back). Run from anywhere: bash benchmarks/gpu_check.sh
# Knobs: T_CUDA_TESTS, T_SUITE, T_BENCH (seconds per step); SKIP_SUITE=1 skips the whole-suite step.
cd "$(dirname "$0")/.." || exit 2
LOG=${OUT:+$OUT/gpu_check.log}
if [ -n "$LOG" ]; then exec > >(tee "$LOG") 2>&1; fi
T_CUDA_TESTS=${T_CUDA_TESTS:-210}
T_SUITE=${T_SUITE:-150}
T_BENCH=${T_BENCH:-120}
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
status=0
step() {  # step NAME TIMEOUT CMD...: run with a timeout, report its time and exit code
    local name=$1 limit=$2
    shift 2
    echo
    echo "==== $name (limit ${limit}s) ===="
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@"
    local rc=$?
    [ $rc -eq 124 ] && echo "!!!! $name: timed out after ${limit}s"
    echo "==== $name: exit $rc in $((SECONDS - t0))s ===="
    [ $rc -ne 0 ] && status=1
    return 0
}

step 'nvidia-smi' 20 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
python -c 'import ember' 2>/dev/null || step 'pip install -e . --no-deps' 120 python -m pip install -q -e . --no-deps
step 'versions' 60 python - <<'EOF'
import sys, numpy
print('python', sys.version.split()[0], '| numpy', numpy.__version__)
try:
    import cupy
    print('cupy', cupy.__version__, '| CUDA runtime', cupy.cuda.runtime.runtimeGetVersion(),
          '| driver', cupy.cuda.runtime.driverGetVersion(), '| GPUs', cupy.cuda.runtime.getDeviceCount())
except Exception as e:
    print('cupy: unusable:', e)
try:
    import torch
    print('torch', torch.__version__, '| cuda', torch.version.cuda, '| available', torch.cuda.is_available())
except Exception as e:
    print('torch: unusable:', e)
import ember
print('ember.cuda.is_available():', ember.cuda.is_available())
EOF
step 'ember info' 60 python -m ember info
# all of tests/test_cuda_*.py, not -x: one GPU session should report every failure it can (at most 25)
step 'tests/test_cuda_*.py' "$T_CUDA_TESTS" python -m pytest tests/test_cuda_*.py -q -rfE --maxfail=25 -p no:cacheprovider
if [ "${SKIP_SUITE:-0}" != 1 ]; then
    step 'whole suite (-x)' "$T_SUITE" python -m pytest -x -q -p no:cacheprovider --ignore-glob='tests/test_cuda_*.py'
fi
step 'benchmarks/bench_gpu.py' "$T_BENCH" python benchmarks/bench_gpu.py ${OUT:+--json "$OUT/bench_gpu.json"}
echo
echo "gpu_check: overall exit $status"
exit $status
