#!/usr/bin/env bash
# GPU check for the encoder, for a machine with an NVIDIA GPU and a CUDA build of libtorch
# 2.11.0 (set LIBTORCH, or have scripts/setup.sh install the full wheel). Reports CUDA
# availability, parity with the reference embeddings on the GPU (fp32 and fp16), and
# sentences/s on the GPU for the benchmark texts.
set -euo pipefail
cd "$(dirname "$0")/.."
POLYREC_TORCH_CUDA=1 scripts/setup.sh
eval "$(POLYREC_TORCH_CUDA=1 scripts/setup.sh --env)"
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cargo build --release --locked -p polyrec-cli
fix=crates/polyrec-encode/tests/fixtures
for half in "" "--half"; do
  target/release/polyrec embed --input "$fix/public_texts.jsonl" --output /tmp/gpu$half.npy --device cuda $half
  python3 - "$fix/public_embeddings.npy" "/tmp/gpu$half.npy" "$half" <<'PY'
import sys, struct
def load(p):
    b = open(p, "rb").read(); hl = struct.unpack("<H", b[8:10])[0]; h = b[10:10 + hl].decode()
    n, d = [int(x) for x in h.split("'shape': (")[1].split(")")[0].split(",") if x.strip()]
    v = struct.unpack(f"<{n*d}f", b[10 + hl:]); return [v[i*d:(i+1)*d] for i in range(n)]
a, b = load(sys.argv[1]), load(sys.argv[2])
cos = [sum(x*y for x, y in zip(r, s)) / ((sum(x*x for x in r) ** .5) * (sum(y*y for y in s) ** .5) or 1) for r, s in zip(a, b)]
print(f"GPU{' fp16' if sys.argv[3] else ' fp32'} parity: worst cosine {min(cos):.6f} over {len(cos)} texts")
PY
done
texts=/tmp/gpu-bench.jsonl
# The benchmark texts (ML-100K items and Women's reviews, read from Parquet with pyarrow).
BENCH_VENV="$POLYREC_HOME/bench-venv"
[ -x "$BENCH_VENV/bin/python" ] || python3 -m venv "$BENCH_VENV"
"$BENCH_VENV/bin/python" -c 'import pyarrow' 2>/dev/null \
  || "$BENCH_VENV/bin/python" -m pip install -q --disable-pip-version-check "pyarrow==21.0.0"
"$BENCH_VENV/bin/python" benches/encode_texts.py "$POLYREC_DATA_DIR" \
  "$POLYREC_HOME/data/widedeep/WomensClothingE-CommerceReviews.parquet.brotli" > "$texts"
target/release/polyrec embed --input "$texts" --output /tmp/gpu-bench.npy --device cuda --batch-size 256
target/release/polyrec embed --input "$texts" --output /tmp/gpu-bench-half.npy --device cuda --batch-size 256 --half
