#!/usr/bin/env bash
# Side by side: ingest of the five ML-100K files, polyrec (full spec: parse, validate,
# labels, scenarios, users, items, KG and links) vs pandas read_csv of the same files
# (parsing only). Same machine, same files, one run each; prints rows/s and the ratio.
source "$(dirname "$0")/common.sh"
bench_pip "pandas==2.3.3"
rust=$(run_example ingest_throughput examples/data/ml-100k.toml 20)
py=$("$BENCH_VENV/bin/python" benches/data_vs_pandas.py "$POLYREC_DATA_DIR" 20)
echo "polyrec: $rust"
echo "pandas:  $py"
python3 - "$rust" "$py" <<'PY'
import sys
kv = lambda s: dict(x.split("=") for x in s.split())
r, p = kv(sys.argv[1]), kv(sys.argv[2])
print(f"ratio (polyrec: five files parsed and validated into a Dataset; pandas: read_csv of the same five files): "
      f"rows/s {float(r['rows_per_s']):,.0f} vs {float(p['rows_per_s']):,.0f} = {float(r['rows_per_s']) / float(p['rows_per_s']):.2f}x")
PY
