#!/usr/bin/env bash
# Wheels to install ganzoo offline on a lent GPU machine (no network there): run here, where
# pip reaches PyPI; the device tool then carries the folder (`carry`, 64 MiB a call in all,
# the repository included) and benchmarks/gpu_check.sh --install installs from it:
#
#   python3 -m pip install --no-index --find-links local/wheelhouse -e .
#
#   bash benchmarks/make_wheelhouse.sh [--bare] [--python-version X.Y] [--dest DIR]
#
# Default: for the GPU image (Python 3.12; its package list is in the device notes,
# KINDS.md: torch 2.11, torchvision, numpy, scipy, pandas, matplotlib, scikit-learn, jinja2,
# tqdm, tabulate, ... but no torch-fidelity). Downloads what it lacks, torch-fidelity, plus
# setuptools (the build backend `pip install -e .` needs, offline) and, as insurance, the
# small pure-Python dependencies (tqdm, tabulate, jinja2, ...): about 3 MB, into
# local/wheelhouse/ (git-ignored: /local/ in .gitignore). pip installs only what is missing
# or too old, so the wheels of packages the image already has are left unused.
#
# --bare: also the large ones (scipy, pandas, matplotlib, scikit-learn and their compiled
# dependencies), for an image with only torch, torchvision and pytest (torch brings jinja2,
# torchvision numpy and pillow): about 70 MB for CPython 3.12 — more than one device call
# carries, so this is for a dry run here (--python-version 3.11, this machine's python):
#   bash benchmarks/make_wheelhouse.sh --bare --python-version 3.11 --dest local/wheelhouse-py311
#
# Versions are pinned to the set `make install` resolved and `make test` passed with. No
# torch, torchvision or CUDA library is ever fetched (--no-deps, explicit lists), and every
# wheel is binary-only for manylinux x86_64 and the given CPython.
set -euo pipefail
cd "$(dirname "$0")/.."

PYVER=3.12
DEST=local/wheelhouse
BARE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bare) BARE=1 ;;
    --python-version) PYVER=$2; shift ;;
    --python-version=*) PYVER=${1#*=} ;;
    --dest) DEST=$2; shift ;;
    --dest=*) DEST=${1#*=} ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "make_wheelhouse.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# What the image lacks, the build backend, and the small pure-Python dependencies.
SMALL=(
  torch-fidelity==0.4.0 setuptools==84.2.1
  tqdm==4.70.1 tabulate==0.10.0 jinja2==3.1.6 markupsafe==3.0.4
  joblib==1.6.0 cloudpickle==3.1.3 threadpoolctl==3.8.0 narwhals==2.29.0
  python-dateutil==2.9.0.post0 six==1.17.0 cycler==0.12.1 pyparsing==3.3.3 packaging==26.4
)
# The large ones, for a bare image (numpy and pillow come with torchvision).
LARGE=(
  scipy==1.17.1 pandas==3.1.1 scikit-learn==1.9.1
  matplotlib==3.11.2 contourpy==1.3.3 fonttools==4.69.1 kiwisolver==1.5.1
)
WANT=("${SMALL[@]}")
[ "$BARE" = 1 ] && WANT+=("${LARGE[@]}")
# tomllib is in the standard library from 3.11 on; ganzoo falls back to tomli before that.
case "$PYVER" in 3.[0-9]|3.10) WANT+=(tomli==2.5.0) ;; esac

mkdir -p "$DEST"
rm -f "$DEST"/*.whl  # one version of each: two would stop the whole install
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --implementation cp --python-version "$PYVER" \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  --dest "$DEST" "${WANT[@]}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
if ls "$DEST" | grep -Eiq '^(torch|torchvision|triton)-[0-9]|^nvidia[-_]'; then
  echo "make_wheelhouse.sh: a torch/CUDA wheel got into $DEST; refusing" >&2
  exit 1
fi
echo "$(ls "$DEST"/*.whl | wc -l) wheels for CPython $PYVER in $DEST: $(du -sh "$DEST" | cut -f1)"
# What a device call sends: the tracked and untracked-not-ignored files, plus what carry names.
repo_kib=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | du -ck --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total_mib=$(( (repo_kib + $(du -sk "$DEST" | cut -f1)) / 1024 ))
if [ "$total_mib" -ge 60 ]; then
  echo "with the repository that is ~${total_mib} MiB: too much for one device call (64 MiB); for a dry run here"
else
  echo "with the repository ~${total_mib} MiB of the 64 MiB a device call carries:"
  echo "  run(command=\"bash benchmarks/gpu_check.sh --install\", carry=[\"$DEST\"], timeout_s=420)"
fi
