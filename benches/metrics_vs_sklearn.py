"""scikit-learn side of benches/metrics_vs_sklearn.sh."""
import sys
import time

import numpy as np

if sys.argv[1] == "make":
    path, n = sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(7)
    scores = np.round(rng.random(n), 4)
    labels = (rng.random(n) < scores).astype(np.int8)
    with open(path, "w") as f:
        f.write("label,score\n")
        for i in range(0, n, 1_000_000):
            f.write("".join(f"{l},{s}\n" for l, s in zip(labels[i:i + 1_000_000], scores[i:i + 1_000_000])))
    sys.exit(0)

if sys.argv[1] == "compare":
    kv = lambda s: dict(x.split("=") for x in s.split())
    r, p = kv(sys.argv[2]), kv(sys.argv[3])
    assert abs(float(r["auc"]) - float(p["auc"])) < 1e-9, "AUC differs"
    assert abs(float(r["logloss"]) - float(p["logloss"])) < 1e-9, "LogLoss differs"
    print(f"AUC: {float(p['auc_s']) / float(r['auc_s']):.1f}x faster; "
          f"LogLoss: {float(p['logloss_s']) / float(r['logloss_s']):.1f}x faster (values agree within 1e-9)")
    sys.exit(0)

from sklearn.metrics import log_loss, roc_auc_score

import pandas as pd

data = pd.read_csv(sys.argv[2]).to_numpy(dtype=np.float64)
labels, scores = data[:, 0], data[:, 1]
start = time.perf_counter()
auc = roc_auc_score(labels, scores)
t_auc = time.perf_counter() - start
start = time.perf_counter()
ll = log_loss(labels, scores)
t_ll = time.perf_counter() - start
print(f"rows={len(labels)} auc={auc:.12f} logloss={ll:.12f} auc_s={t_auc:.4f} logloss_s={t_ll:.4f}")
