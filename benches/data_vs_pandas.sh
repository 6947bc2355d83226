#!/usr/bin/env bash
# Side by side: ingest of the five ML-100K files, polyrec (full spec: parse, validate,
# labels, scenarios, users, items, KG and links) against pandas read_csv of the same files
# (parsing only; C engine and pyarrow engine). Warm, ROUNDS (default 5) alternating rounds
# of REPEATS loads each, medians and min-max, row counts checked equal; appends a JSON line
# to $POLYREC_HOME/bench-results.jsonl.
source "$(dirname "$0")/common.sh"
ROUNDS="${ROUNDS:-5}"
REPEATS="${REPEATS:-10}"
bench_pip "pandas==2.3.3" "pyarrow==21.0.0"
cargo build --release --locked --example ingest_throughput -q
"$BENCH_VENV/bin/python" benches/data_vs_pandas.py run "$POLYREC_DATA_DIR" \
  "$PWD/target/release/examples/ingest_throughput" examples/data/ml-100k.toml "$REPEATS" "$ROUNDS"
