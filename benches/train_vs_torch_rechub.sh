#!/usr/bin/env bash
# Side by side: multi-task training on MovieLens-100K, polyrec vs torch-rechub (PyPI
# torch-rechub==0.9.0, its SharedBottom, MMOE and PLE with its MTLTrainer), same protocol,
# same torch version (2.11.0), same thread count, same machine.
#
# Protocol (details in benches/torch_rechub_side.py; polyrec reads the same protocol from
# examples/data/ml-100k.toml and examples/train/protocol-$MODEL.toml):
#   data: ML-100K from the recbole==1.2.1 wheel (scripts/setup.sh); split: the file
#   examples/data/ml-100k-split-2024.txt (train/valid/test per row of ml-100k.inter,
#   np.random.default_rng(2024).permutation(100000): 80% / 10% / 10%; made here if missing);
#   scenarios: user age 1-24 / 25-34 / 35+; tasks: like = rating >= 4 (binary), rating
#   (regression, raw 1-5); features, all categorical, 16-d embeddings: user id, item id, age
#   band, gender, occupation, first genre, release decade; bottom/experts MLP [128, 64],
#   towers [32]; MMoE 4 experts; PLE 2 levels, 1 shared + 1 specific expert per task; Adam
#   lr 1e-3, weight decay 1e-6, batch 1024, EPOCHS epochs, no early stopping.
#   Both sides train the same two tasks, so the models have the same shape: polyrec runs with
#   `--set 'tasks=["like", "rating"]'` (the spec's third task, the user-level gender profile,
#   would add a task tower, a PLE expert per level and a second forward pass per batch).
#   Reported on the test rows: AUC of like, overall and per scenario; RMSE of rating
#   (predictions clamped to [1, 5]); training samples/s = training rows x epochs / training
#   wall time (file reading and evaluation excluded on both sides).
#
# Each (model, seed) is one round; the two sides alternate (A B, then B A) so that a slow
# spell of a shared machine falls on both. Every run appends one JSON line to $OUT; the end
# prints medians over seeds per model and side, and the polyrec/torch-rechub speed ratio.
#
#   MODELS="shared_bottom mmoe ple" SEEDS="1 2 3" EPOCHS=5 THREADS=2 \
#     OUT=target/bench/train_vs_torch_rechub.jsonl benches/train_vs_torch_rechub.sh
#   POLYREC_ONLY=1 / RECHUB_ONLY=1 run one side only.
#
# The torch-rechub side lives in its own venv, $POLYREC_HOME/bench-rechub-venv. Work-arounds:
#   - torch-rechub 0.9.0 asks for torch>=1.10 (no pin), numpy, pandas, scikit-learn, tqdm.
#     It is installed with --no-deps next to torch==2.11.0 installed as scripts/setup.sh does
#     (--no-deps plus nvidia-cuda-runtime and nvidia-cuda-cupti, about 1.3 GB instead of the
#     2.7 GB of CUDA wheels), torch's pure-Python dependencies and torch-rechub's listed
#     explicitly (pip would otherwise pull the CUDA wheels back in through torch).
#   - The PyPI torch wheel for Linux is a CUDA build: torch/_C needs libcudnn.so.9,
#     libcublas.so.13, libnccl.so.2, ... when imported, even on CPU. Without those wheels
#     `import torch` fails, so `torch_rechub_side.py --make-cuda-stubs` compiles (gcc) a small
#     stand-in for each missing library into the venv's nvidia/cu13/lib (on torch's RPATH),
#     defining each symbol torch takes from it as a function that aborts with a message.
#     The CPU paths never call them; torch.cuda.is_available() is False. A venv with the
#     full CUDA torch wheel imports on its own and gets no stubs.
#   - torch-rechub's MTLTrainer.fit validates every epoch, applies early stopping and saves
#     the model; the side script calls MTLTrainer.train_one_epoch EPOCHS times instead (the
#     same training step, optimizer and loss) and evaluates the test rows once at the end.
source "$(dirname "$0")/common.sh"
MODELS="${MODELS:-shared_bottom mmoe ple}"
SEEDS="${SEEDS:-1 2 3}"
EPOCHS="${EPOCHS:-5}"
THREADS="${THREADS:-2}"
OUT="${OUT:-target/bench/train_vs_torch_rechub.jsonl}"
POLYREC_ONLY="${POLYREC_ONLY:-0}"
RECHUB_ONLY="${RECHUB_ONLY:-0}"
RECHUB_VERSION="0.9.0"
SPLIT="examples/data/ml-100k-split-2024.txt"
BIN="target/release/polyrec"
WORK="$(dirname "$OUT")/train_vs_torch_rechub"
SIDE="benches/torch_rechub_side.py"
[ "$POLYREC_ONLY" = 1 ] && [ "$RECHUB_ONLY" = 1 ] && { echo "POLYREC_ONLY and RECHUB_ONLY both set" >&2; exit 2; }

# torch-rechub's venv (also used for the split file and the summary; numpy only when
# POLYREC_ONLY=1).
RV="$POLYREC_HOME/bench-rechub-venv"
RPY="$RV/bin/python"
[ -x "$RPY" ] || python3 -m venv "$RV"
rpip() { "$RPY" -m pip install -q --disable-pip-version-check "$@"; }
have() { # PACKAGE VERSION
  "$RPY" -c 'import importlib.metadata as m, sys; sys.exit(m.version(sys.argv[1]) != sys.argv[2])' "$1" "$2" 2>/dev/null
}
have numpy 2.3.5 || rpip "numpy==2.3.5"
if [ "$POLYREC_ONLY" != 1 ]; then
  have torch 2.11.0 || rpip --no-deps "torch==2.11.0" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
  if ! have torch-rechub "$RECHUB_VERSION"; then
    rpip filelock "typing-extensions>=4.10.0" "setuptools<82" "sympy>=1.13.3" "networkx>=2.5.1" jinja2 \
      "fsspec>=0.8.5" "pandas==2.3.3" "scikit-learn==1.7.2" "tqdm>=4.66"
    rpip --no-deps "torch-rechub==$RECHUB_VERSION"
  fi
  "$RPY" -c 'import torch' 2>/dev/null || "$RPY" "$SIDE" --make-cuda-stubs
  "$RPY" -c 'import torch, torch_rechub; print(f"torch {torch.__version__}, torch-rechub {torch_rechub.__version__}")' >&2
fi

# The split file: checked if there, made if not.
if [ -f "$SPLIT" ]; then
  "$RPY" "$SIDE" --check-split "$POLYREC_DATA_DIR/ml-100k.inter" "$SPLIT"
else
  "$RPY" "$SIDE" --make-split "$POLYREC_DATA_DIR/ml-100k.inter" "$SPLIT"
fi

if [ "$RECHUB_ONLY" != 1 ] && [ ! -x "$BIN" ]; then
  cargo build --release --locked -p polyrec-cli
fi

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
polyrec() { # MODEL SEED
  local dir="$WORK/polyrec-$1-seed$2"
  rm -rf "$dir"
  mkdir -p "$dir"
  "$BIN" train --spec examples/data/ml-100k.toml --config "examples/train/protocol-$1.toml" \
    --split "file:$SPLIT" --seed "$2" --epochs "$EPOCHS" --threads "$THREADS" \
    --set 'tasks=["like", "rating"]' --set train.lr=1e-3 --set train.weight_decay=1e-6 \
    --out "$dir" >&2
  "$RPY" "$SIDE" --polyrec-line "$dir" "$1" "$2" "$EPOCHS" "$THREADS" "$SPLIT"
}
rechub() { # MODEL SEED
  "$RPY" "$SIDE" "$1" "$2" "$EPOCHS" "$THREADS" "$POLYREC_DATA_DIR" "$SPLIT"
}
run() { # SIDE MODEL SEED
  local line
  if [ "$1" = polyrec ]; then
    [ "$RECHUB_ONLY" = 1 ] && return 0
    line=$(polyrec "$2" "$3")
  else
    [ "$POLYREC_ONLY" = 1 ] && return 0
    line=$(rechub "$2" "$3")
  fi
  echo "$line" >> "$OUT"
  echo "$line"
}

mkdir -p "$(dirname "$OUT")" "$WORK"
: > "$OUT"
r=0
for model in $MODELS; do
  for seed in $SEEDS; do
    r=$((r + 1))
    echo "round $r: $model seed $seed, $EPOCHS epochs, $THREADS threads" >&2
    if [ $((r % 2)) -eq 1 ]; then
      run polyrec "$model" "$seed"; run torch-rechub "$model" "$seed"
    else
      run torch-rechub "$model" "$seed"; run polyrec "$model" "$seed"
    fi
  done
done
"$RPY" "$SIDE" --summary "$OUT"
