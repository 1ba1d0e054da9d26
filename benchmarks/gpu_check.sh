#!/usr/bin/env bash
# ganzoo's fast path on one GPU (issue 6): CUDA-graph correctness tests, then the
# throughput table (the issue's reference rows + every variant at batch 64 and 4096).
#
#   bash benchmarks/gpu_check.sh [gpu_check.py options, e.g. --budget 200 --no-compile]
#
# Installs nothing and downloads nothing; runs with the machine's python3 (torch >= 2.4,
# pytest) and PYTHONPATH=. ; about 5-6 minutes on one H100/H200. Writes gpu_check.json,
# gpu_check.txt and gpu_check_tests.log under $OUT when set, else next to this script.
# Through the device tool: run(command="bash benchmarks/gpu_check.sh", timeout_s=420).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
DEST=${OUT:-benchmarks}
mkdir -p "$DEST"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null || true
"$PY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.version.cuda, '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO GPU')"

echo "== 1/2 correctness: CUDA graph vs eager, same seed (tests/test_perf.py -k cuda) =="
timeout 100 "$PY" -m pytest -q -p no:cacheprovider tests/test_perf.py -k cuda -rs >"$DEST/gpu_check_tests.log" 2>&1
echo "pytest exit status $?"
tail -n 25 "$DEST/gpu_check_tests.log"

echo "== 2/2 throughput =="
timeout 260 "$PY" benchmarks/gpu_check.py "$@"
status=$?
[ $status -eq 124 ] && echo "gpu_check.py ran out of time (260 s); partial output above"
exit $status
