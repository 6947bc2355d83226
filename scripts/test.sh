#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup.sh), then runs the checks CI
# runs: formatting, clippy with warnings as errors on every target, the layering rule,
# every test (unit, integration, doc tests; examples and benches are built), and the docs.
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

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test --workspace --all-targets (unit, integration, examples, benches built)"
cargo test --workspace --all-targets --locked

step "cargo test --workspace --doc"
cargo test --workspace --doc --locked

step "cargo doc --workspace --no-deps"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

echo
echo "all checks passed"
