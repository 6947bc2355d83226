"""Full-ranking top-K side by side: polyrec against a vectorised NumPy evaluation and against
RecBole 1.2.1's own full-sort evaluation, over the same MovieLens-100K score matrix.

`make DATA_DIR CASE_DIR`: MovieLens-100K leave-one-out (each user's latest rating, the last
in file order on equal timestamps, is the test item; the rest train), a rank-64 truncated
SVD of the binary training matrix as the model. Writes scores.npy (users x items, float32),
train.tsv and test.tsv (dense user and item indices), users.txt and items.txt (the raw
tokens of the dense indices, in order) and recbole/ml-100k-loo/ml-100k-loo.inter (ml-100k.inter
for RecBole's own loader and splitter, the timestamp replaced by its rank in (timestamp, line)
order, which RecBole's float32 fields hold exactly).
`numpy CASE_DIR [THREADS]`: the NumPy side: copy the matrix, mask training items with -inf,
argpartition the top 20 per row, sort them (score descending, ties by item index), metrics
vectorised over users; THREADS (default 2) threads each take a contiguous block of users
(argpartition and the copies release the GIL). One untimed pass, then one timed pass.
`recbole CASE_DIR`: the RecBole side (run with the RecBole venv's Python): RecBole builds
its dataset from the copied ml-100k.inter (split LS test_only, order TO, mode full), a model
whose full_sort_predict returns the precomputed scores of the batch's users (RecBole's
internal ids mapped to the case's by token), and Trainer.evaluate over the test loader. One
untimed evaluation, then one timed.
`run CASE_DIR POLYREC_BINARY RECBOLE_PYTHON`: the side-by-side rounds (benches/sxs.py).

Every side prints `users=... recall@5=... ... seconds=...`; the values must agree across
sides within 1e-9.
"""
import os
import sys
import time

KS = (5, 10, 20)
METRICS = ("recall", "precision", "hit", "ndcg", "mrr")
THREADS = 2


def make(data, case):
    import numpy as np

    os.makedirs(case, exist_ok=True)
    users, items, rows = {}, {}, []
    inter = os.path.join(data, "ml-100k.inter")
    with open(inter) as f:
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
    with open(os.path.join(case, "train.tsv"), "w") as tr, open(os.path.join(case, "test.tsv"), "w") as te:
        for n, (u, i, _t) in enumerate(rows):
            (te if n in test_rows else tr).write(f"{u}\t{i}\n")
            if n not in test_rows:
                m[u, i] = 1.0
    for name, tokens in (("users.txt", users), ("items.txt", items)):
        with open(os.path.join(case, name), "w") as f:
            f.writelines(f"{t}\n" for t in tokens)
    uu, s, vt = np.linalg.svd(m, full_matrices=False)
    scores = (uu[:, :64] * s[:64]) @ vt[:64]
    np.save(os.path.join(case, "scores.npy"), scores.astype(np.float32))
    rb = os.path.join(case, "recbole", "ml-100k-loo")
    os.makedirs(rb, exist_ok=True)
    # RecBole holds float fields as float32, whose step at ml-100k's timestamps (~8.8e8) is 64
    # seconds: sorting those would tie different seconds and pick other test items. Its copy
    # gets, instead of the timestamp, the rank of (timestamp, line): the same order, exact.
    by_time = sorted(range(len(rows)), key=lambda n: (rows[n][2], n))
    rank = [0] * len(rows)
    for r, n in enumerate(by_time):
        rank[n] = r
    with open(inter) as f, open(os.path.join(rb, "ml-100k-loo.inter"), "w") as g:
        g.write(next(f))
        for n, l in enumerate(f):
            u, i, r, _t = l.rstrip("\n").split("\t")
            g.write(f"{u}\t{i}\t{r}\t{rank[n]}\n")


def line(n_users, means, seconds):
    values = " ".join(f"{k}={means[k]:.12f}" for k in sorted(means))
    return f"users={n_users} {values} seconds={seconds:.6f}"


def numpy_side(case, threads):
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor

    scores = np.load(os.path.join(case, "scores.npy"))
    train = np.loadtxt(os.path.join(case, "train.tsv"), dtype=np.int64, ndmin=2)
    test = np.loadtxt(os.path.join(case, "test.tsv"), dtype=np.int64, ndmin=2)
    n_users, n_items = scores.shape
    kmax = max(KS)
    # Training pairs sorted by user once (file reading), so a block of users masks its own.
    train = train[np.argsort(train[:, 0], kind="stable")]
    train_at = np.searchsorted(train[:, 0], np.arange(n_users + 1))
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    ideal = np.cumsum(discount)
    pool = ThreadPoolExecutor(threads)
    bounds = np.linspace(0, n_users, threads + 1).astype(np.int64)

    def rank_block(lo, hi):
        s = scores[lo:hi].copy()
        tr = train[train_at[lo]:train_at[hi]]
        s[tr[:, 0] - lo, tr[:, 1]] = -np.inf
        top = np.argpartition(s, n_items - kmax, axis=1)[:, n_items - kmax:]  # no negated copy
        top_scores = np.take_along_axis(s, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)
        return np.take_along_axis(top, order, axis=1)

    def evaluate():
        ranked = np.concatenate(list(pool.map(rank_block, bounds[:-1], bounds[1:])))
        relevant = np.zeros((n_users, n_items), dtype=bool)
        relevant[test[:, 0], test[:, 1]] = True
        n_rel = relevant.sum(axis=1)
        keep = n_rel > 0
        hits_at = np.take_along_axis(relevant, ranked, axis=1)[keep]
        n_rel = n_rel[keep]
        cum_hits = np.cumsum(hits_at, axis=1)
        cum_dcg = np.cumsum(hits_at * discount, axis=1)
        any_hit = hits_at.any(axis=1)
        first = np.where(any_hit, hits_at.argmax(axis=1) + 1, 0)
        means = {}
        for k in KS:
            hits = cum_hits[:, k - 1]
            means[f"recall@{k}"] = np.mean(hits / n_rel)
            means[f"precision@{k}"] = np.mean(hits / k)
            means[f"hit@{k}"] = np.mean(hits > 0)
            means[f"ndcg@{k}"] = np.mean(cum_dcg[:, k - 1] / ideal[np.minimum(n_rel, k) - 1])
            means[f"mrr@{k}"] = np.mean(np.where((first > 0) & (first <= k), 1.0 / np.maximum(first, 1), 0.0))
        return int(keep.sum()), means

    evaluate()  # warm-up: the same pass, untimed
    start = time.perf_counter()
    n, means = evaluate()
    elapsed = time.perf_counter() - start
    print(line(n, means, elapsed))


def recbole_side(case):
    import numpy as np
    import torch

    torch.set_num_threads(THREADS)
    import tempfile

    work = os.path.join(case, "recbole")
    # RecBole writes log_tensorboard/ (and saved/) under the working directory, anew each run.
    scratch = tempfile.TemporaryDirectory()
    os.chdir(scratch.name)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.abstract_recommender import GeneralRecommender
    from recbole.trainer import Trainer
    from recbole.utils import InputType, ModelType

    scores = np.load(os.path.join(case, "scores.npy"))
    with open(os.path.join(case, "users.txt")) as f:
        user_index = {t: n for n, t in enumerate(f.read().split("\n")[:-1])}
    with open(os.path.join(case, "items.txt")) as f:
        item_index = {t: n for n, t in enumerate(f.read().split("\n")[:-1])}

    class Precomputed(GeneralRecommender):
        """Scores every item with the case's precomputed matrix, rows and columns in
        RecBole's internal id order (id 0 is RecBole's padding)."""

        input_type = InputType.POINTWISE
        type = ModelType.GENERAL

        def __init__(self, config, dataset):
            super().__init__(config, dataset)
            users = dataset.field2id_token[self.USER_ID]
            items = dataset.field2id_token[self.ITEM_ID]
            rows = np.array([0] + [user_index[t] for t in users[1:]])
            cols = np.array([0] + [item_index[t] for t in items[1:]])
            table = scores[rows][:, cols].copy()
            table[0, :] = -np.inf
            table[:, 0] = -np.inf
            self.register_buffer("table", torch.from_numpy(table))
            self.unused = torch.nn.Parameter(torch.zeros(1))  # Trainer builds an optimizer

        def calculate_loss(self, interaction):
            raise NotImplementedError

        def predict(self, interaction):
            return self.table[interaction[self.USER_ID], interaction[self.ITEM_ID]]

        def full_sort_predict(self, interaction):
            return self.table[interaction[self.USER_ID]].view(-1)

    config = Config(
        model=Precomputed,
        dataset="ml-100k-loo",
        config_dict={
            "data_path": work,
            "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "eval_args": {"split": {"LS": "test_only"}, "order": "TO", "group_by": "user", "mode": "full"},
            "metrics": ["Recall", "NDCG", "Hit", "MRR", "Precision"],
            "topk": list(KS),
            "valid_metric": "MRR@10",
            "metric_decimal_place": 12,
            "eval_batch_size": 1 << 22,  # all users in one batch
            "train_neg_sample_args": None,
            "use_gpu": False,
            "device": "cpu",
            "worker": 0,
            "show_progress": False,
            "state": "ERROR",
            "save_dataset": False,
            "save_dataloaders": False,
            "checkpoint_dir": os.path.join(scratch.name, "saved"),
            "reproducibility": True,
            "seed": 2020,
        },
    )
    torch.set_num_threads(THREADS)  # Config's init_seed may have reset it
    dataset = create_dataset(config)
    _train, _valid, test = data_preparation(config, dataset)
    model = Precomputed(config, test._dataset)
    trainer = Trainer(config, model)
    trainer.evaluate(test, load_best_model=False, show_progress=False)  # warm-up, untimed
    start = time.perf_counter()
    result = trainer.evaluate(test, load_best_model=False, show_progress=False)
    elapsed = time.perf_counter() - start
    n_users = int(test.uid_list.numel()) if hasattr(test, "uid_list") else -1
    means = {k: float(v) for k, v in result.items()}
    print(line(n_users, means, elapsed) + f" torch_threads={torch.get_num_threads()}")
    os.chdir(case)
    scratch.cleanup()


def run(case, polyrec_bin, recbole_python):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.dont_write_bytecode = True  # no benches/__pycache__ in the work tree
    import sxs

    here = os.path.abspath(__file__)
    env = {"RAYON_NUM_THREADS": str(THREADS), "OMP_NUM_THREADS": str(THREADS),
           "OPENBLAS_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}
    sides = [
        sxs.Side("polyrec full_ranking", f"{THREADS} threads (rayon)", [polyrec_bin, case], env),
        sxs.Side("NumPy argpartition, vectorised metrics", f"{THREADS} threads (user blocks)",
                 [sys.executable, here, "numpy", case, str(THREADS)], env),
        sxs.Side("RecBole 1.2.1 Trainer.evaluate (full sort)", f"torch {THREADS} threads",
                 [recbole_python, here, "recbole", case], env),
    ]

    def check(results):
        names = [s.name for s in sides]
        base = results[names[0]][0]
        keys = sorted(k for k in base if "@" in k)
        if len(keys) != len(KS) * len(METRICS):
            sys.exit(f"{names[0]} printed {keys}")
        worst = 0.0
        for name in names:
            for res in results[name]:
                if res["users"] != base["users"]:
                    sys.exit(f"{name} counted {res['users']} users, {names[0]} {base['users']}")
                missing = [k for k in keys if k not in res]
                if missing:
                    sys.exit(f"{name} lacks {missing}")
                for k in keys:
                    diff = abs(res[k] - base[k])
                    if diff > 1e-9:
                        sys.exit(f"{name} {k}={res[k]} but {names[0]} {k}={base[k]}")
                    worst = max(worst, diff)
        how = "to all 12 printed decimals" if worst == 0 else f"within {worst:.1e}"
        return (f"users={int(base['users'])} and all {len(keys)} values (recall, precision, hit, ndcg, "
                f"mrr @5/10/20) agree across sides {how}; "
                f"recall@10={base['recall@10']:.6f} ndcg@10={base['ndcg@10']:.6f}")

    n_users, n_items = 0, 0
    with open(os.path.join(case, "users.txt")) as f:
        n_users = sum(1 for _ in f)
    with open(os.path.join(case, "items.txt")) as f:
        n_items = sum(1 for _ in f)
    rounds = int(os.environ.get("ROUNDS", "5"))
    sxs.run(
        "top-K full ranking",
        sides,
        rounds=rounds,
        check=check,
        workload=(f"MovieLens-100K leave-one-out, {n_users} users x {n_items} items, rank-64 SVD scores "
                  f"(float32); mask training items, top 20, recall/precision/hit/ndcg/mrr @5/10/20"),
        note=("each side warms in-process and times one evaluation of the same score matrix, file "
              "reading excluded; RecBole's time is Trainer.evaluate over its full-sort test loader "
              "(one batch of all users) with a model returning the precomputed scores"),
    )


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "make":
        make(sys.argv[2], sys.argv[3])
    elif cmd == "numpy":
        numpy_side(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else THREADS)
    elif cmd == "recbole":
        recbole_side(sys.argv[2])
    elif cmd == "run":
        run(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
