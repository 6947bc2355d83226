#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup.sh), then runs the checks CI
# runs: formatting, clippy with warnings as errors on every target, the layering rule,
# every test (unit, integration, doc tests; examples and benches are built), and the docs.
# Where the set-up found Open MPI (POLYREC_MPI=1) the cargo feature `mpi` of polyrec-cli
# is on for the tests and the docs (the 2-process tests of crates/polyrec-cli/tests/mpi.rs
# run), and clippy checks the code both with and without it; elsewhere it stays off and
# those tests check that the binary refuses to run as one rank of several.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
eval "$(scripts/setup.sh --env)"
# Doc tests of crates that link libtorch are linked without our rpath.
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --all --check"
cargo fmt --all --check

step "layers point down: no libtorch under polyrec-data, polyrec-graph, polyrec-eval"
for crate in polyrec-data polyrec-graph polyrec-eval; do
  if cargo tree -q -p "$crate" -e normal,build | grep -E '(^|[ ─])(tch|torch-sys) v';  then
    echo "error: $crate depends on libtorch" >&2
    exit 1
  fi
done

FEATURES=()
if [ "${POLYREC_MPI:-0}" = 1 ]; then
  FEATURES=(--features polyrec-cli/mpi)
fi

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
if [ "${#FEATURES[@]}" -gt 0 ]; then
  step "cargo clippy --workspace --all-targets ${FEATURES[*]} -- -D warnings"
  cargo clippy --workspace --all-targets --locked "${FEATURES[@]}" -- -D warnings
fi

step "cargo test --workspace --all-targets ${FEATURES[*]} (unit, integration, examples, benches built)"
cargo test --workspace --all-targets --locked "${FEATURES[@]}"

step "cargo test --workspace --doc"
cargo test --workspace --doc --locked "${FEATURES[@]}"

step "cargo doc --workspace --no-deps"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked "${FEATURES[@]}"

echo
echo "all checks passed"
