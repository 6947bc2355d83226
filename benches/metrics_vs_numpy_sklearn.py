"""AUC and LogLoss over 10 million rows: polyrec against vectorised NumPy and scikit-learn.

`make FILE N`: writes N rows `label,score` (seeded; scores rounded to 4 decimals, so there
are many ties, labels drawn with probability = score) and FILE.npy with the same numbers.
`side SIDE METRIC FILE`: one side (numpy-argsort, numpy-sort, sklearn): loads the rows,
computes METRIC (auc or logloss) once untimed, then once timed; prints `key=value`.
`run FILE EXAMPLE ROUNDS`: the side-by-side (see benches/sxs.py), AUC then LogLoss.
"""
import os
import sys

import numpy as np


def make(path, n):
    rng = np.random.default_rng(7)
    scores = np.round(rng.random(n), 4)
    labels = (rng.random(n) < scores).astype(np.int8)
    with open(path + ".tmp", "w") as f:
        f.write("label,score\n")
        for i in range(0, n, 1_000_000):
            f.write("".join(f"{l},{s}\n" for l, s in zip(labels[i:i + 1_000_000], scores[i:i + 1_000_000])))
    np.save(path + ".npy.tmp.npy", np.stack([labels.astype(np.float64), scores], axis=1))
    os.replace(path + ".npy.tmp.npy", path + ".npy")
    os.replace(path + ".tmp", path)


def auc_argsort(y, s):
    """Mann-Whitney AUC from one argsort, ties given their average rank."""
    order = np.argsort(s)
    ss = s[order]
    n = len(ss)
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    ends = np.r_[starts[1:], n]
    ranks = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    pos = y[order] > 0.5
    n_pos = int(pos.sum())
    n_neg = n - n_pos
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def auc_sort(y, s):
    """Positives and negatives sorted apart, then negatives below / tied with each positive
    counted by binary search: no argsort, no gather of the whole array."""
    pos_mask = y > 0.5
    neg = np.sort(s[~pos_mask])
    pos = np.sort(s[pos_mask])
    lo = np.searchsorted(neg, pos, side="left")
    hi = np.searchsorted(neg, pos, side="right")
    return (lo.sum() + 0.5 * (hi - lo).sum()) / (len(pos) * len(neg))


def logloss_numpy(y, p):
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1 - eps)
    return -np.mean(np.log(np.where(y > 0.5, p, 1 - p)))


def side(name, metric, path):
    import time

    data = np.load(path + ".npy")
    y, s = np.ascontiguousarray(data[:, 0]), np.ascontiguousarray(data[:, 1])
    if name == "sklearn":
        from sklearn.metrics import log_loss, roc_auc_score

        f = roc_auc_score if metric == "auc" else log_loss
    elif metric == "auc":
        f = auc_argsort if name == "numpy-argsort" else auc_sort
    else:
        f = logloss_numpy
    f(y, s)  # warm-up
    start = time.perf_counter()
    value = f(y, s)
    secs = time.perf_counter() - start
    print(f"rows={len(y)} value={float(value):.12f} seconds={secs:.6f}")


def run(path, example, rounds):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sxs

    py = sys.executable
    one = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for metric in ("auc", "logloss"):
        sides = [
            sxs.Side("polyrec", "2 threads", [example, path, metric], {"RAYON_NUM_THREADS": "2"}),
            sxs.Side("polyrec, 1 thread", "1 thread", [example, path, metric], {"RAYON_NUM_THREADS": "1"}),
        ]
        if metric == "auc":
            sides += [
                sxs.Side("NumPy argsort (rank-sum AUC)", "1 thread (NumPy sorts on one)",
                         [py, __file__, "side", "numpy-argsort", metric, path], one),
                sxs.Side("NumPy sort + searchsorted", "1 thread (NumPy sorts on one)",
                         [py, __file__, "side", "numpy-sort", metric, path], one),
                sxs.Side("scikit-learn roc_auc_score", "1 thread (no parallel path)",
                         [py, __file__, "side", "sklearn", metric, path], one),
            ]
        else:
            sides += [
                sxs.Side("NumPy (clip, where, log, mean)", "1 thread (ufuncs run on one)",
                         [py, __file__, "side", "numpy", metric, path], one),
                sxs.Side("scikit-learn log_loss", "1 thread (no parallel path)",
                         [py, __file__, "side", "sklearn", metric, path], one),
            ]

        def check(results, metric=metric):
            values = {k: [r["value"] for r in v] for k, v in results.items()}
            ref = values["polyrec"][0]
            worst = max(abs(x - ref) for v in values.values() for x in v)
            if worst > 1e-9:
                sys.exit(f"{metric}: the sides disagree by {worst}: {values}")
            return f"every side's {metric} = {ref:.12f} within {worst:.1e}"

        sxs.run(f"{metric} over 10M rows", sides, rounds, check,
                workload=f"{metric.upper()} of 10,000,000 (label, score) rows, scores with 4 decimals "
                         f"(timed apart from reading the file)")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], int(sys.argv[3]))
    elif cmd == "side":
        side(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
