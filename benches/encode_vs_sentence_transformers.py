"""sentence-transformers side of benches/encode_vs_sentence_transformers.sh.

`MODEL_DIR TEXTS THREADS BATCH` encodes TEXTS and prints its speed;
`--compare TEXTS ROUNDS_LOG` summarises the rounds and compares the two outputs.
"""
import json
import statistics
import sys
import time

import numpy as np


def kv(s):
    return {k: float(v) for k, v in (x.split("=") for x in s.split())}


def compare(texts_path, log_path):
    rounds = [tuple(kv(side) for side in line.strip().split("|")) for line in open(log_path)]
    ratios = [r["sentences_per_s"] / p["sentences_per_s"] for r, p in rounds]
    for i, ((r, p), q) in enumerate(zip(rounds, ratios), 1):
        print(f"round {i}: polyrec {r['sentences_per_s']:.1f}/s ({r['seconds']:.1f} s), "
              f"sentence-transformers {p['sentences_per_s']:.1f}/s ({p['seconds']:.1f} s): {q:.2f}x")
    a = np.load(texts_path + ".polyrec.npy")
    b = np.load(texts_path + ".st.npy")
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    med = lambda side: statistics.median(x[side]["sentences_per_s"] for x in rounds)
    print(f"median over {len(rounds)} rounds: polyrec {med(0):.1f}/s, sentence-transformers "
          f"{med(1):.1f}/s; median ratio {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x); worst cosine {cos.min():.6f}")


def encode(model_dir, texts_path, threads, batch):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    texts = [json.loads(l) for l in open(texts_path, encoding="utf-8")]
    model = SentenceTransformer(model_dir, device="cpu")
    start = time.perf_counter()
    emb = model.encode(texts, batch_size=batch, convert_to_numpy=True)
    secs = time.perf_counter() - start
    np.save(texts_path + ".st.npy", emb.astype(np.float32))
    print(f"texts={len(texts)} seconds={secs:.3f} sentences_per_s={len(texts) / secs:.1f}")


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        encode(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
