# Shared set-up for the side-by-side scripts: polyrec's environment and a Python venv for
# the reference implementations under $POLYREC_HOME/bench-venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
eval "$(scripts/setup.sh --env)"
BENCH_VENV="$POLYREC_HOME/bench-venv"
[ -x "$BENCH_VENV/bin/python" ] || python3 -m venv "$BENCH_VENV"
bench_pip() { "$BENCH_VENV/bin/python" -m pip install -q --disable-pip-version-check "$@"; }
# Builds a top-level example in release mode and runs it with the remaining arguments.
run_example() {
  cargo build --release --locked --example "$1" -q
  "target/release/examples/$1" "${@:2}"
}
