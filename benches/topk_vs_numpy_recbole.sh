#!/usr/bin/env bash
# Side by side: full-ranking top-K on MovieLens-100K (leave-one-out, rank-64 SVD scores),
# polyrec against a vectorised NumPy evaluation and against RecBole 1.2.1's own full-sort
# evaluation of the same score matrix; warm, ROUNDS (default 5) alternating rounds, 2 threads
# a side; the metric values must agree. Appends the result to $POLYREC_HOME/bench-results.jsonl.
#   ROUNDS=5 benches/topk_vs_numpy_recbole.sh
source "$(dirname "$0")/common.sh"
bench_pip "numpy==2.3.5"
# RecBole in its own venv, with torch. NumPy 1.26.4: RecBole 1.2.1's Config.__init__ sets
# aliases from names NumPy 2 removed (np.float_, np.complex_, np.unicode_), so creating a
# Config fails under NumPy 2. pandas 2.3.3: the 2.x line RecBole 1.2.1 was written against
# (plain `pip install recbole==1.2.1` picks pandas 3).
RECBOLE_VENV="$POLYREC_HOME/recbole-venv"
[ -x "$RECBOLE_VENV/bin/python" ] || python3 -m venv "$RECBOLE_VENV"
"$RECBOLE_VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "recbole==1.2.1" "torch==2.11.0" "numpy==1.26.4" "pandas==2.3.3"
case_dir="$POLYREC_HOME/bench-topk-ml100k-loo"
[ -f "$case_dir/recbole/ml-100k-loo/ml-100k-loo.inter" ] \
  || "$BENCH_VENV/bin/python" benches/topk_vs_numpy_recbole.py make "$POLYREC_DATA_DIR" "$case_dir"
cargo build --release --locked --example topk_throughput -q
"$BENCH_VENV/bin/python" benches/topk_vs_numpy_recbole.py run "$case_dir" \
  target/release/examples/topk_throughput "$RECBOLE_VENV/bin/python"
