#!/usr/bin/env bash
# The main job, end to end on MovieLens-100K with the default language model:
#   1. `polyrec demo`: ingest + validation, item texts through all-MiniLM-L6-v2 (cached),
#      the Freebase knowledge graph, the content + graph baseline evaluated leave-one-out;
#   2. `polyrec train`: the default multi-scenario, multi-task model (PEPNet over ids,
#      attributes, scenario, item and user text, the knowledge-graph layer and the history),
#      with the per-scenario x task test table; the model directory goes to
#      $POLYREC_HOME/runs/ml-100k-default;
#   3. `polyrec recommend`: explained top-10 for a sample user, without and with a free-text
#      request, from the trained model.
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

"$BIN" demo "$@"
echo
echo "== 6. the default multi-task model: polyrec train --spec examples/data/ml-100k.toml --out $RUN"
rm -rf "$RUN"
"$BIN" train --spec examples/data/ml-100k.toml --out "$RUN"
echo
echo "== 7. recommendations from the trained model: polyrec recommend --model $RUN --user $USER_ID"
"$BIN" recommend --model "$RUN" --user "$USER_ID" -k 10
echo
"$BIN" recommend --model "$RUN" --user "$USER_ID" -k 10 --query "$QUERY"
