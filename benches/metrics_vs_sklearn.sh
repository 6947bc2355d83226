#!/usr/bin/env bash
# Side by side: AUC and LogLoss over 10 million rows, polyrec vs scikit-learn, on the same
# file, same machine, one run each (metric time only, not file reading). Prints the ratio.
source "$(dirname "$0")/common.sh"
bench_pip "numpy==2.3.5" "pandas==2.3.3" "scikit-learn==1.7.2"
rows="$POLYREC_HOME/bench-10m.csv"
[ -f "$rows" ] || "$BENCH_VENV/bin/python" benches/metrics_vs_sklearn.py make "$rows" 10000000
rust=$(run_example metrics_throughput "$rows")
py=$("$BENCH_VENV/bin/python" benches/metrics_vs_sklearn.py time "$rows")
echo "polyrec:      $rust"
echo "scikit-learn: $py"
"$BENCH_VENV/bin/python" benches/metrics_vs_sklearn.py compare "$rust" "$py"

# Full-ranking top-K on MovieLens-100K (leave-one-out, rank-64 SVD scores), polyrec vs the
# NumPy full-sort evaluation of the same score matrix; metric values must agree within 1e-12.
case_dir="$POLYREC_HOME/bench-topk-ml100k"
[ -f "$case_dir/scores.npy" ] || "$BENCH_VENV/bin/python" benches/topk_vs_numpy.py make "$POLYREC_DATA_DIR" "$case_dir"
rust=$(run_example topk_throughput "$case_dir")
py=$("$BENCH_VENV/bin/python" benches/topk_vs_numpy.py time "$case_dir")
echo "polyrec full ranking: $rust"
echo "numpy full ranking:   $py"
"$BENCH_VENV/bin/python" benches/topk_vs_numpy.py compare "$rust" "$py"
