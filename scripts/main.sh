#!/usr/bin/env bash
# The main job: installs what is missing (scripts/setup.sh), builds the `polyrec` binary in
# release mode and runs the end-to-end flow on MovieLens-100K with the default model.
# Extra arguments go to `polyrec demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
eval "$(scripts/setup.sh --env)"
cargo build --release --locked -p polyrec-cli
exec target/release/polyrec demo "$@"
