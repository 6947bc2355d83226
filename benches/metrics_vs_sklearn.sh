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
