"""NumPy side of the full-ranking comparison in benches/metrics_vs_sklearn.sh.

`make DATA_DIR OUT_DIR`: MovieLens-100K leave-one-out (each user's latest rating, the last
in file order on equal timestamps, is the test item), a rank-64 truncated SVD of the binary
training matrix as the model; writes scores.npy (users x items, float32), train.tsv and
test.tsv (dense user and item indices).
`compare RUST_LINE NUMPY_LINE`: checks that the metric values agree and prints the ratio.
`time OUT_DIR`: the usual NumPy full-sort evaluation of that score matrix (mask training
items, argpartition the top 20, sort them; score ties broken by item index), timed apart
from file reading, with recall/precision/hit/ndcg/mrr at 5, 10 and 20.
"""
import os
import sys
import time

import numpy as np

KS = (5, 10, 20)

if sys.argv[1] == "make":
    data, out = sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    users, items, rows = {}, {}, []
    with open(os.path.join(data, "ml-100k.inter")) as f:
        next(f)
        for line in f:
            u, i, _r, t = line.rstrip("\n").split("\t")
            rows.append((users.setdefault(u, len(users)), items.setdefault(i, len(items)), float(t)))
    last = {}
    for n, (u, _i, t) in enumerate(rows):
        if u not in last or t >= rows[last[u]][2]:
            last[u] = n
    test_rows = set(last.values())
    m = np.zeros((len(users), len(items)), dtype=np.float64)
    with open(os.path.join(out, "train.tsv"), "w") as tr, open(os.path.join(out, "test.tsv"), "w") as te:
        for n, (u, i, _t) in enumerate(rows):
            (te if n in test_rows else tr).write(f"{u}\t{i}\n")
            if n not in test_rows:
                m[u, i] = 1.0
    uu, s, vt = np.linalg.svd(m, full_matrices=False)
    scores = (uu[:, :64] * s[:64]) @ vt[:64]
    np.save(os.path.join(out, "scores.npy"), scores.astype(np.float32))
    sys.exit(0)

if sys.argv[1] == "compare":
    kv = lambda s: dict(x.split("=") for x in s.split())
    r, p = kv(sys.argv[2]), kv(sys.argv[3])
    assert r["users"] == p["users"], "different users counted"
    worst = max(abs(float(r[k]) - float(p[k])) for k in r if "@" in k)
    assert worst < 1e-12, f"top-K metrics differ by {worst}"
    print(f"full ranking: {float(p['seconds']) / float(r['seconds']):.1f}x faster; "
          f"recall@10 {float(r['recall@10']):.4f}, ndcg@10 {float(r['ndcg@10']):.4f} (values agree within 1e-12)")
    sys.exit(0)

out = sys.argv[2]
scores = np.load(os.path.join(out, "scores.npy"))
train = np.loadtxt(os.path.join(out, "train.tsv"), dtype=np.int64, ndmin=2)
test = np.loadtxt(os.path.join(out, "test.tsv"), dtype=np.int64, ndmin=2)
kmax = max(KS)

start = time.perf_counter()
s = scores.copy()
s[train[:, 0], train[:, 1]] = -np.inf
relevant = [set() for _ in range(s.shape[0])]
for u, i in test:
    relevant[u].add(int(i))
top = np.argpartition(-s, kmax - 1, axis=1)[:, :kmax]
top_scores = np.take_along_axis(s, top, axis=1)
order = np.lexsort((top, -top_scores), axis=1)
ranked = np.take_along_axis(top, order, axis=1)
sums = {f"{m}@{k}": 0.0 for k in KS for m in ("recall", "precision", "hit", "ndcg", "mrr")}
n_users = 0
for u in range(s.shape[0]):
    rel = relevant[u]
    if not rel:
        continue
    n_users += 1
    hits_at = [int(i) in rel for i in ranked[u]]
    for k in KS:
        hits = sum(hits_at[:k])
        dcg = sum(1.0 / np.log2(r + 2) for r in range(k) if hits_at[r])
        idcg = sum(1.0 / np.log2(r + 2) for r in range(min(len(rel), k)))
        first = next((r + 1 for r in range(k) if hits_at[r]), None)
        sums[f"recall@{k}"] += hits / len(rel)
        sums[f"precision@{k}"] += hits / k
        sums[f"hit@{k}"] += float(hits > 0)
        sums[f"ndcg@{k}"] += dcg / idcg
        sums[f"mrr@{k}"] += 1.0 / first if first else 0.0
elapsed = time.perf_counter() - start
means = " ".join(f"{k}={v / n_users:.12f}" for k, v in sorted(sums.items()))
print(f"users={n_users} {means} seconds={elapsed:.4f}")
