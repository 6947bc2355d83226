#!/usr/bin/env bash
# Side by side: AUC and LogLoss over 10 million rows, polyrec (2 threads and 1 thread)
# against vectorised NumPy (rank-sum AUC from one argsort; sort + searchsorted; clip/log/
# mean) and scikit-learn, on the same rows; every side warmed in-process, ROUNDS (default
# 5) alternating rounds, medians and min-max, values checked equal within 1e-9. Appends one
# JSON line per metric to $POLYREC_HOME/bench-results.jsonl.
source "$(dirname "$0")/common.sh"
ROUNDS="${ROUNDS:-5}"
bench_pip "numpy==2.3.5" "scikit-learn==1.7.2"
rows="$POLYREC_HOME/bench-10m.csv"
[ -f "$rows" ] && [ -f "$rows.npy" ] || "$BENCH_VENV/bin/python" benches/metrics_vs_numpy_sklearn.py make "$rows" 10000000
cargo build --release --locked --example metrics_throughput -q
"$BENCH_VENV/bin/python" benches/metrics_vs_numpy_sklearn.py run "$rows" "$PWD/target/release/examples/metrics_throughput" "$ROUNDS"
