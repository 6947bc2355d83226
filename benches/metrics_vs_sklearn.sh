#!/usr/bin/env bash
# Side by side: AUC and LogLoss over 10 million rows, polyrec vs scikit-learn, on the same
# file, same machine, one run each (metric time only, not file reading). Prints the ratio.
source "$(dirname "$0")/common.sh"
bench_pip "numpy==2.3.5" "pandas==2.3.3" "scikit-learn==1.7.2"
rows="$POLYREC_HOME/bench-10m.csv"
[ -f "$rows" ] || "$BENCH_VENV/bin/python" benches/metrics_vs_sklearn.py make "$rows" 10000000
cargo build --release --locked --example metrics_throughput -q
rust=$(target/release/examples/metrics_throughput "$rows")
py=$("$BENCH_VENV/bin/python" benches/metrics_vs_sklearn.py time "$rows")
echo "polyrec:      $rust"
echo "scikit-learn: $py"
python3 - "$rust" "$py" <<'PY'
import sys
kv = lambda s: dict(x.split("=") for x in s.split())
r, p = kv(sys.argv[1]), kv(sys.argv[2])
assert abs(float(r["auc"]) - float(p["auc"])) < 1e-9, "AUC differs"
assert abs(float(r["logloss"]) - float(p["logloss"])) < 1e-9, "LogLoss differs"
print(f"AUC: {float(p['auc_s']) / float(r['auc_s']):.1f}x faster; LogLoss: {float(p['logloss_s']) / float(r['logloss_s']):.1f}x faster (values agree within 1e-9)")
PY

# Full-ranking top-K on MovieLens-100K (leave-one-out, rank-64 SVD scores), polyrec vs the
# NumPy full-sort evaluation of the same score matrix; metric values must agree within 1e-12.
case_dir="$POLYREC_HOME/bench-topk-ml100k"
[ -f "$case_dir/scores.npy" ] || "$BENCH_VENV/bin/python" benches/topk_vs_numpy.py make "$POLYREC_DATA_DIR" "$case_dir"
cargo build --release --locked --example topk_throughput -q
rust=$(target/release/examples/topk_throughput "$case_dir")
py=$("$BENCH_VENV/bin/python" benches/topk_vs_numpy.py time "$case_dir")
echo "polyrec full ranking: $rust"
echo "numpy full ranking:   $py"
python3 - "$rust" "$py" <<'PY'
import sys
kv = lambda s: dict(x.split("=") for x in s.split())
r, p = kv(sys.argv[1]), kv(sys.argv[2])
assert r["users"] == p["users"], "different users counted"
worst = max(abs(float(r[k]) - float(p[k])) for k in r if "@" in k)
assert worst < 1e-12, f"top-K metrics differ by {worst}"
print(f"full ranking: {float(p['seconds']) / float(r['seconds']):.1f}x faster; "
      f"recall@10 {float(r['recall@10']):.4f}, ndcg@10 {float(r['ndcg@10']):.4f} (values agree within 1e-12)")
PY
