#!/usr/bin/env bash
# Side by side: sentence embeddings of the same 6,682 real texts (all 1,682 ML-100K item
# texts and the first 5,000 non-empty Women's E-Commerce Clothing reviews, both from the
# set-up's own packages), polyrec's encoder against sentence-transformers in its fastest CPU
# configurations on the same cores: one process with THREADS torch threads, its
# multi-process pool with THREADS processes x 1 thread, and its ONNX Runtime backend (the
# ONNX model exported on this machine from the same weights) with THREADS intra-op threads
# (SIDES=st-torch,st-torch-pool,st-onnx,st-onnx-procs adds ONNX Runtime as THREADS processes
# x 1 thread, slower on 2 cores). benches/encode_vs_sentence_transformers.py has the
# sides; benches/sxs.py alternates them for ROUNDS rounds, prints medians, min-max and the
# ratios, checks the cosine between polyrec's and every peer's embedding of every text
# (>= 0.9999) and appends a JSON line to $POLYREC_HOME/bench-results.jsonl.
#
#   ROUNDS=5 THREADS=2 benches/encode_vs_sentence_transformers.sh
#   LIMIT=300 ROUNDS=1 SIDES=st-onnx benches/encode_vs_sentence_transformers.sh   (a try-out)
#
# The Python side lives in its own venv, $POLYREC_HOME/bench-st-venv, with pinned versions:
#   - sentence-transformers 5.7.0 with transformers 4.57.6: its ONNX backend needs
#     optimum-onnx, whose newest release (0.1.0) needs transformers < 4.58, and
#     sentence-transformers 6.x needs transformers >= 5; 5.7.0 is the newest release that
#     has both.
#   - torch==2.11.0, the wheel the project's libtorch comes from, installed as
#     scripts/setup.sh does (--no-deps plus nvidia-cuda-runtime and nvidia-cuda-cupti, about
#     1.3 GB instead of 2.7 GB of CUDA wheels), so every other package is listed with its
#     dependencies and installed with --no-deps (pip would otherwise pull the CUDA wheels
#     back in through torch). The CPU build imports only with the CUDA libraries present:
#     benches/torch_rechub_side.py --make-cuda-stubs puts stand-ins next to it, as for the
#     torch-rechub benchmark (a venv with the full CUDA wheel needs none).
# A run takes (1 + ROUNDS) x the sides' times x 2 (each side encodes everything twice: once
# to warm up, once timed): about 30-40 minutes for 5 rounds on 2 idle cores. Run it on an
# idle machine: 2 torch threads that share their cores with anything else slow down by up
# to 5x (OpenMP's barriers), far more than the other sides do.
source "$(dirname "$0")/common.sh"
export ROUNDS="${ROUNDS:-5}" THREADS="${THREADS:-2}" BATCH="${BATCH:-32}"
SV="$POLYREC_HOME/bench-st-venv"
SPY="$SV/bin/python"
[ -x "$SPY" ] || python3 -m venv "$SV"
PINS=(Jinja2==3.1.6 MarkupSafe==3.0.4 PyYAML==6.0.4 certifi==2026.10.19.post1
  charset-normalizer==3.5.3 cloudpickle==3.1.3 filelock==4.3.1 flatbuffers==25.12.19
  fsspec==2026.9.0 hf-xet==1.8.0 huggingface_hub==0.36.2 idna==3.20 joblib==1.6.0
  ml_dtypes==0.6.0 mpmath==1.3.0 narwhals==2.29.0 networkx==3.6.1 numpy==2.4.6 onnx==1.23.2
  onnxruntime==1.32.0 optimum==2.1.0 optimum-onnx==0.1.0 packaging==26.4 protobuf==7.36.2
  pyarrow==26.0.1 regex==2026.11.19 requests==2.34.2 safetensors==0.8.0 scikit-learn==1.9.1
  scipy==1.17.1 sentence-transformers==5.7.0 setuptools==81.0.0 sympy==1.14.0
  threadpoolctl==3.8.0 tokenizers==0.22.2 tqdm==4.70.1 transformers==4.57.6
  typing_extensions==4.16.0 urllib3==2.8.0)
stamp="$SV/.bench-pins"
want="torch==2.11.0 ${PINS[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  spip() { "$SPY" -m pip install -q --disable-pip-version-check "$@"; }
  spip --no-deps "torch==2.11.0" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
  spip --no-deps "${PINS[@]}"
  echo "$want" > "$stamp"
fi
"$SPY" -c 'import torch' 2>/dev/null || "$SPY" benches/torch_rechub_side.py --make-cuda-stubs >&2
cargo build --release --locked --example encode_throughput -q
export POLYREC_BIN="$PWD/target/release/examples/encode_throughput"
"$SPY" benches/encode_vs_sentence_transformers.py
