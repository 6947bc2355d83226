#!/usr/bin/env bash
# Side by side: training epoch time and full-ranking evaluation time of a BPR model with
# 64-wide id embeddings, polyrec's two-tower (ids only, loss bpr) against RecBole 1.2.1's
# BPR, same data and leave-one-out protocol, same threads; warm (median of epochs 2..EPOCHS
# within each run), ROUNDS (default 5) alternating rounds. Appends a JSON line to
# $POLYREC_HOME/bench-results.jsonl. RecBole's venv is the one benches/topk_vs_numpy_recbole.sh
# makes (NumPy 1.26 and pandas 2.3: see there why).
#   ROUNDS=5 EPOCHS=4 THREADS=2 benches/train_vs_recbole.sh
source "$(dirname "$0")/common.sh"
ROUNDS="${ROUNDS:-5}"
EPOCHS="${EPOCHS:-4}"
THREADS="${THREADS:-2}"
RECBOLE_VENV="$POLYREC_HOME/recbole-venv"
[ -x "$RECBOLE_VENV/bin/python" ] || python3 -m venv "$RECBOLE_VENV"
"$RECBOLE_VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "recbole==1.2.1" "torch==2.11.0" "numpy==1.26.4" "pandas==2.3.3"
cargo build --release --locked -p polyrec-cli -q
"$BENCH_VENV/bin/python" benches/train_vs_recbole.py run "$PWD/target/release/polyrec" \
  examples/data/ml-100k.toml "$POLYREC_DATA_DIR" "$RECBOLE_VENV/bin/python" "$EPOCHS" "$THREADS" "$ROUNDS"
