#!/usr/bin/env bash
# The rows of docs/results.md: every model on the fixed ML-100K comparison protocol
# (examples/train/protocol-*.toml, split examples/data/ml-100k-split-2024.txt), then
# PEPNet with text, graph, history and both, the default model (MMoE with all of them), and the item cold-start split with
# ids only vs text + graph. One `polyrec train` per row and seed; prints a Markdown table
# of medians over the seeds and writes every run's metrics under $OUT.
#
#   benches/ml100k_results.sh                 # all rows, SEEDS="1 2 3"
#   ROWS="mmoe-all" SEEDS=1 benches/ml100k_results.sh
#   TABLE_ONLY=1 benches/ml100k_results.sh    # the table of runs already made
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
eval "$(scripts/setup.sh --env)"
THREADS="${THREADS:-2}"
SEEDS="${SEEDS:-1 2 3}"
OUT="${OUT:-target/bench/ml100k-results}"
BIN=target/release/polyrec
[ -x "$BIN" ] || cargo build --release --locked -p polyrec-cli
mkdir -p "$OUT"

BASE="--spec examples/data/ml-100k.toml --threads $THREADS"
FILE="--split file:examples/data/ml-100k-split-2024.txt"
TEXT="--set features.text=true"
KG="--set features.kg=true"
HIST="--set features.history=true"
TUNED="--set features.embedding_l2=1e-2"
declare -A ROW
ROW[lr]="$FILE --config examples/train/protocol-lr.toml"
ROW[mlp]="$FILE --config examples/train/protocol-mlp.toml"
ROW[shared_bottom]="$FILE --config examples/train/protocol-shared_bottom.toml"
ROW[mmoe]="$FILE --config examples/train/protocol-mmoe.toml"
ROW[ple]="$FILE --config examples/train/protocol-ple.toml"
ROW[star]="$FILE --config examples/train/protocol-star.toml"
ROW[pepnet]="$FILE --config examples/train/protocol-pepnet.toml"
ROW[pepnet-text]="$FILE --config examples/train/protocol-pepnet.toml $TUNED $TEXT"
ROW[pepnet-kg]="$FILE --config examples/train/protocol-pepnet.toml $TUNED $KG"
ROW[pepnet-text-kg]="$FILE --config examples/train/protocol-pepnet.toml $TUNED $TEXT $KG"
ROW[pepnet-all]="$FILE --config examples/train/protocol-pepnet.toml $TUNED $TEXT $KG $HIST"
# The default model: an ensemble of 3 MMoEs, every family, L2 1e-2, batch 256, Adam 1e-3,
# weights averaged (EMA 0.999) (the defaults of `polyrec train`; the protocol files pin the
# earlier lr, L2, no averaging and a single model).
SMALL="--set train.batch_size=256 --set train.lr=1e-3"
ROW[mmoe-all]="$FILE --config examples/train/protocol-mmoe.toml $TUNED $TEXT $KG $HIST $SMALL --set train.ema_decay=0.999 --set train.ensemble=3"
# The same, one model (the default until ensembles were added).
ROW[mmoe-all-single]="$FILE --config examples/train/protocol-mmoe.toml $TUNED $TEXT $KG $HIST $SMALL --set train.ema_decay=0.999"
# The same without weight averaging (the default until it was added).
ROW[mmoe-all-no-ema]="$FILE --config examples/train/protocol-mmoe.toml $TUNED $TEXT $KG $HIST $SMALL"
ROW[pepnet-all-small]="$FILE --config examples/train/protocol-pepnet.toml $TUNED $TEXT $KG $HIST $SMALL"
# Item cold start: the two item tasks (the user-level gender task would steer the choice of
# epoch), validation on other held-out items. "ids" keeps the user's attributes but gives
# the item side its id alone, which a held-out item does not have.
COLD="--config examples/train/protocol-pepnet.toml --split cold-items --set tasks=[\"like\",\"rating\"]"
ITEM_IDS_ONLY="--set features.attributes=[\"gender\",\"occupation\"]"
ROW[cold-ids]="$COLD $ITEM_IDS_ONLY"
ROW[cold-attrs]="$COLD"
ROW[cold-text]="$COLD $TEXT"
ROW[cold-text-kg]="$COLD $TEXT $KG"
ROWS="${ROWS:-lr mlp shared_bottom mmoe ple star pepnet pepnet-text pepnet-kg pepnet-text-kg pepnet-all pepnet-all-small mmoe-all-no-ema mmoe-all-single mmoe-all cold-ids cold-attrs cold-text cold-text-kg}"
set -f # the rows hold TOML arrays ([...]), not file patterns

for row in $ROWS; do
  [ "${TABLE_ONLY:-0}" = 1 ] && break
  for seed in $SEEDS; do
    dir="$OUT/$row/seed$seed"
    rm -rf "$dir"; mkdir -p "$OUT/$row"
    # shellcheck disable=SC2086
    "$BIN" train $BASE ${ROW[$row]} --seed "$seed" --out "$dir" >/dev/null 2>"$dir.log" \
      || { echo "row $row seed $seed failed: see $dir.log" >&2; exit 1; }
    echo "$row seed $seed: $BIN train $BASE ${ROW[$row]} --seed $seed --out $dir" >&2
  done
done

python3 - "$OUT" $ROWS <<'PY'
import json, statistics, sys, pathlib
out, rows = pathlib.Path(sys.argv[1]), sys.argv[2:]
scen = ["age 1-24", "age 25-34", "age 35+"]
print("| row | seeds | like AUC | " + " | ".join(scen) + " | rating RMSE | gender AUC (held-out users) | train samples/s |")
print("|---|---|---|---|---|---|---|---|---|")
for row in rows:
    runs = sorted(p for p in (out / row).glob("seed*") if p.is_dir())
    def med(f):
        v = [f(r) for r in runs]
        v = [x for x in v if x is not None]
        return statistics.median(v) if v else float("nan")
    def m(r):
        return json.loads((r / "metrics.json").read_text())
    def sps(r):
        h = [json.loads(l) for l in (r / "history.jsonl").read_text().splitlines() if l.strip()]
        return statistics.median(x["samples_per_sec"] for x in h)
    block = (lambda r: m(r)["cold_items"]["overall"]) if row.startswith("cold") else (lambda r: m(r)["overall"])
    like = med(lambda r: block(r)["like"]["auc"])
    per = [med(lambda r, s=s: m(r).get(s, {}).get("like", {}).get("auc")) for s in scen]
    rmse = med(lambda r: block(r)["rating"]["rmse"])
    gender = med(lambda r: m(r)["overall"].get("gender", {}).get("auc"))
    print(f"| {row} | {len(runs)} | {like:.4f} | " + " | ".join(f"{x:.4f}" for x in per)
          + f" | {rmse:.4f} | {gender:.4f} | {med(sps):,.0f} |")
PY
