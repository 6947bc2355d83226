#!/usr/bin/env bash
# Side by side: sentence embeddings of the same real texts (all ML-100K item titles with
# genres, plus 5,000 Women's reviews when ../shared has them), polyrec vs Python
# sentence-transformers, same torch version (2.11.0), same thread count, same machine, one
# run each. Prints sentences/s for both, the ratio, and the worst cosine between the two.
# The Python side needs the full torch wheel with its dependencies (about 2.7 GB) in its own
# virtual environment; this is a benchmark, not part of the test command.
source "$(dirname "$0")/common.sh"
THREADS="${THREADS:-$(nproc)}"
BATCH="${BATCH:-32}" # sentence-transformers' default batch size, used on both sides
ST_VENV="$POLYREC_HOME/st-venv"
[ -x "$ST_VENV/bin/python" ] || python3 -m venv "$ST_VENV"
"$ST_VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==2.11.0" "sentence-transformers" numpy
texts="$POLYREC_HOME/bench-texts.jsonl"
python3 benches/encode_texts.py "$POLYREC_DATA_DIR" "${POLYREC_SHARED_DIR:-../shared}" > "$texts"
rust=$(OMP_NUM_THREADS=$THREADS run_example encode_throughput "$texts" "$BATCH" "$THREADS")
py=$(HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$THREADS "$ST_VENV/bin/python" benches/encode_vs_sentence_transformers.py "$POLYREC_MODEL_DIR" "$texts" "$THREADS" "$BATCH")
echo "polyrec:               $rust"
echo "sentence-transformers: $py"
"$ST_VENV/bin/python" - "$texts" "$rust" "$py" <<'PY'
import sys
import numpy as np
kv = lambda s: dict(x.split("=") for x in s.split())
r, p = kv(sys.argv[2]), kv(sys.argv[3])
a = np.load(sys.argv[1] + ".polyrec.npy"); b = np.load(sys.argv[1] + ".st.npy")
cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
print(f"ratio: {float(r['sentences_per_s']) / float(p['sentences_per_s']):.2f}x; worst cosine {cos.min():.6f}")
PY
