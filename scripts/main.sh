#!/usr/bin/env bash
# The main job, end to end on MovieLens-100K with the default language model:
#   `polyrec demo` (one use of polyrec::Pipeline): ingest + validation, item and user texts
#   through all-MiniLM-L6-v2 (cached), the Freebase knowledge graph, the default
#   multi-scenario, multi-task model (MMoE over ids, attributes, scenario, item and user
#   text, the knowledge-graph layer and the history) trained with early stopping, the
#   per-scenario x task test table, explained top-10 for a sample user without and with a
#   free-text request, and cold start; the model directory goes to
#   $POLYREC_HOME/runs/ml-100k-default; then `polyrec recommend` answers from that directory.
# Extra arguments go to `polyrec demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
eval "$(scripts/setup.sh --env)"
cargo build --release --locked -p polyrec-cli
BIN=target/release/polyrec
RUN="$POLYREC_HOME/runs/ml-100k-default"
USER_ID="${POLYREC_DEMO_USER:-196}"
QUERY="${POLYREC_DEMO_QUERY:-a light comedy for a rainy evening}"

rm -rf "$RUN"
"$BIN" demo --user "$USER_ID" --request "$QUERY" --out "$RUN" "$@"
echo
echo "== 9. the trained model answers from its directory: polyrec recommend --model $RUN --user $USER_ID --query ..."
"$BIN" recommend --model "$RUN" --user "$USER_ID" -k 10 --query "$QUERY"
