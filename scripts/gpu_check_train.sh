#!/usr/bin/env bash
# On a CUDA machine: trains the default model on ML-100K (the fixed split, text + graph +
# history) once on CUDA and once on the CPU, and prints both runs' test metrics (they should
# be close, not identical: CUDA kernels sum in another order) and training samples/s.
# The default model: an ensemble of 3 MMoEs over every input family, batch 256, Adam 1e-3,
# weights averaged, seed 1.
#
# A CUDA machine without cargo or network: build the binary elsewhere against the same
# libtorch version, then run this with POLYREC_BIN=that binary, POLYREC_MODEL_DIR and
# POLYREC_DATA_DIR set, and the CUDA libtorch on LD_LIBRARY_PATH. A binary built against a
# CPU-only libtorch does not load libtorch_cuda.so by itself: build it with
# POLYREC_LINK_CUDA=1, or LD_PRELOAD that library.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${POLYREC_BIN:-target/release/polyrec}"
if [ -z "${POLYREC_BIN:-}" ]; then
  POLYREC_TORCH_CUDA=1 scripts/setup.sh
  eval "$(scripts/setup.sh --env)"
  cargo build --release --locked -p polyrec-cli
fi
OUT="${OUT:-target/gpu-check-train}"
rm -rf "$OUT"
for device in cuda cpu; do
  "$BIN" train --spec examples/data/ml-100k.toml \
    --split file:examples/data/ml-100k-split-2024.txt --config examples/train/protocol-mmoe.toml \
    --set features.text=true --set features.kg=true --set features.history=true \
    --set features.embedding_l2=1e-2 --set train.batch_size=256 --set train.lr=1e-3 --set train.ema_decay=0.999 --set train.ensemble=3 \
    --seed 1 --device "$device" --out "$OUT/$device" >/dev/null
done
python3 - "$OUT" <<'PY'
import json, statistics, sys, pathlib
out = pathlib.Path(sys.argv[1])
for device in ("cuda", "cpu"):
    m = json.loads((out / device / "metrics.json").read_text())["overall"]
    h = [json.loads(l) for l in (out / device / "history.jsonl").read_text().splitlines() if l]
    sps = statistics.median(x["samples_per_sec"] for x in h)
    print(f"{device}: like AUC {m['like']['auc']:.4f}, rating RMSE {m['rating']['rmse']:.4f}, "
          f"gender AUC {m['gender']['auc']:.4f}, {sps:,.0f} training samples/s (median epoch)")
PY
