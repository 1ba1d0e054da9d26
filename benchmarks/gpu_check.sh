#!/usr/bin/env bash
# ganzoo's fast path on one GPU (issues 6 and 28): the CUDA-graph correctness tests, then the
# throughput table (issue 6's reference rows and every variant at batch 64 and 4096), each
# target a ratio to the reference it names (benchmarks/gpu_check.py says why each ratio).
#
#   bash benchmarks/gpu_check.sh [--install] [gpu_check.py options: --budget S, --no-compile, --smoke, ...]
#
# --install  first install ganzoo, offline, from $WHEELHOUSE (default local/wheelhouse, made
#            here by benchmarks/make_wheelhouse.sh): what `make bench` needs on the machine.
#              $PYTHON -m pip install --no-index --find-links local/wheelhouse -e .
#            A failed install is reported and the check goes on: it needs torch alone
#            (PYTHONPATH=.).
# --smoke    every row tiny, on the CPU when there is no GPU: checks this script in seconds.
#
# Python: $PYTHON (default python3, the one with torch). Time: the install at most 60 s,
# the tests at most 90 s, the table --budget (default 180 s) and then 60 s of slack before it
# is killed (a row in progress may overrun its estimate): at most 400 s, about 4 minutes on
# one H100/H200 — timeout_s=420 below. The table is written after every measurement, so a
# kill loses only the one in progress.
# Writes gpu_check.json, gpu_check.txt, gpu_check_tests.log (and gpu_check_install.log)
# under $OUT when set, else in benchmarks/.
#
# Through the device tool (after `bash benchmarks/make_wheelhouse.sh` here, ~2.5 MB):
#   run(command="bash benchmarks/gpu_check.sh --install", carry=["local/wheelhouse"], timeout_s=420)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELHOUSE=${WHEELHOUSE:-local/wheelhouse}
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
DEST=${OUT:-benchmarks}
mkdir -p "$DEST"

INSTALL=0
BUDGET=180
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --install) INSTALL=1 ;;
    --budget) BUDGET=${2:-}; ARGS+=("$1" "${2:-}"); shift ;;
    --budget=*) BUDGET=${1#*=}; ARGS+=("$1") ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
case "${BUDGET%%.*}" in ''|*[!0-9]*) echo "gpu_check.sh: --budget needs seconds, got '$BUDGET'" >&2; exit 2 ;; esac
KILL_AFTER=$(( ${BUDGET%%.*} + 60 ))  # the table's own budget + slack for the row in progress and the write
[[ " ${ARGS[*]-} " == *" --budget"* ]] || ARGS+=(--budget "$BUDGET")  # the same budget, whatever the script's default

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null || true
"$PY" -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda, '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO GPU')"

if [ "$INSTALL" = 1 ]; then
  echo "== 0/2 install from $WHEELHOUSE (offline) =="
  t0=$SECONDS
  if timeout 60 "$PY" -m pip install --disable-pip-version-check --no-index --find-links "$WHEELHOUSE" -e . \
       >"$DEST/gpu_check_install.log" 2>&1; then
    echo "installed in $((SECONDS - t0)) s: $("$PY" -m pip list --disable-pip-version-check 2>/dev/null | grep -iE '^(ganzoo|torch-fidelity|torch_fidelity) ' | tr -s ' ' | paste -sd, -)"
    "$PY" -m ganzoo list >/dev/null 2>>"$DEST/gpu_check_install.log" && echo "ganzoo list: ok" || echo "ganzoo list: FAILED (see gpu_check_install.log)"
  else
    echo "install FAILED after $((SECONDS - t0)) s (see gpu_check_install.log); the GPU check goes on, it needs torch alone:"
    tail -n 8 "$DEST/gpu_check_install.log"
  fi
fi

echo "== 1/2 correctness: CUDA graph vs eager, same seed (tests/test_perf.py -k cuda) =="
timeout 90 "$PY" -m pytest -q -p no:cacheprovider tests/test_perf.py -k cuda -rs >"$DEST/gpu_check_tests.log" 2>&1
echo "pytest exit status $? (124: cut at 90 s)"
tail -n 25 "$DEST/gpu_check_tests.log"

echo "== 2/2 throughput (budget ${BUDGET} s, killed at ${KILL_AFTER} s) =="
timeout -k 10 "$KILL_AFTER" "$PY" benchmarks/gpu_check.py "${ARGS[@]}"
status=$?
[ $status -eq 124 ] && echo "gpu_check.py ran out of time (${KILL_AFTER} s); the rows finished are in $DEST/gpu_check.json and gpu_check.txt"
exit $status
