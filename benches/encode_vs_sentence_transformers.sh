#!/usr/bin/env bash
# Side by side: sentence embeddings of the same real texts (all ML-100K item titles with
# genres, plus 5,000 Women's reviews when ../shared has them), polyrec vs Python
# sentence-transformers, same torch version (2.11.0), same thread count, same machine.
# The two sides alternate for ROUNDS rounds (A B, B A, A B, ...) so that a slow spell of a
# shared machine falls on both; each round prints sentences/s for both and their ratio, and
# the summary gives the median ratio and the worst cosine between the two outputs.
# The Python side needs the full torch wheel with its dependencies (about 2.7 GB) in its own
# virtual environment; this is a benchmark, not part of the test command.
source "$(dirname "$0")/common.sh"
THREADS="${THREADS:-$(nproc)}"
BATCH="${BATCH:-32}" # sentence-transformers' default batch size, used on both sides
ROUNDS="${ROUNDS:-3}"
ST_VENV="$POLYREC_HOME/st-venv"
[ -x "$ST_VENV/bin/python" ] || python3 -m venv "$ST_VENV"
"$ST_VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==2.11.0" \
  "sentence-transformers==6.2.0" "transformers==5.24.0" numpy
texts="$POLYREC_HOME/bench-texts.jsonl"
python3 benches/encode_texts.py "$POLYREC_DATA_DIR" "${POLYREC_SHARED_DIR:-../shared}" > "$texts"
cargo build --release --locked --example encode_throughput -q
rust() { OMP_NUM_THREADS=$THREADS target/release/examples/encode_throughput "$texts" "$BATCH" "$THREADS"; }
py() { HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$THREADS "$ST_VENV/bin/python" benches/encode_vs_sentence_transformers.py "$POLYREC_MODEL_DIR" "$texts" "$THREADS" "$BATCH"; }
log="$POLYREC_HOME/bench-encode-rounds.txt"
: > "$log"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then a=$(rust); b=$(py); else b=$(py); a=$(rust); fi
  echo "round $r polyrec: $a"
  echo "round $r sentence-transformers: $b"
  echo "$a|$b" >> "$log"
done
"$ST_VENV/bin/python" benches/encode_vs_sentence_transformers.py --compare "$texts" "$log"
