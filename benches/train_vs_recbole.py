"""Two-tower (BPR, ids only) training and full-ranking evaluation speed: polyrec against
RecBole 1.2.1's BPR, the same model size (64-wide user and item id embeddings), loss (BPR,
one uniform negative per positive), batch (~2,048 interactions), data and protocol
(ML-100K, leave-one-out by time, full ranking of all items for 943 users).

`recbole DATA_DIR EPOCHS THREADS`: RecBole's side: builds its dataset and loaders, then
times each epoch of `Trainer._train_epoch` and each `Trainer.evaluate` of the validation
users (full sort); prints the median over epochs 2..EPOCHS (epoch 1 warms up).
`polyrec BIN SPEC EPOCHS THREADS`: polyrec's side: `polyrec train --model two_tower
--split loo` with the same shape; reads history.jsonl (train_seconds, valid_seconds).
`run ...`: the side-by-side (benches/sxs.py).
"""
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def warm_median(xs):
    return statistics.median(xs[1:] if len(xs) > 1 else xs)


def recbole_side(data_dir, epochs, threads):
    import torch

    torch.set_num_threads(threads)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import BPR
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    work = tempfile.mkdtemp(prefix="recbole-train-")
    os.chdir(work)
    config = Config(model="BPR", dataset="ml-100k", config_dict={
        "data_path": os.path.dirname(os.path.abspath(data_dir)),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
        "embedding_size": 64, "train_batch_size": 2048, "eval_batch_size": 1_000_000,
        "learning_rate": 0.001, "epochs": epochs, "metrics": ["Hit", "NDCG", "Recall", "MRR"],
        "topk": [10, 20], "valid_metric": "NDCG@10", "device": "cpu", "use_gpu": False,
        "seed": 2020, "show_progress": False, "checkpoint_dir": os.path.join(work, "saved"),
        "metric_decimal_place": 6,
    })
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, _test = data_preparation(config, dataset)
    model = BPR(config, train_data.dataset).to(config["device"])
    params = sum(p.numel() for p in model.parameters())
    trainer = Trainer(config, model)
    train_s, eval_s, ndcg = [], [], 0.0
    for epoch in range(epochs):
        t = time.perf_counter()
        trainer._train_epoch(train_data, epoch, show_progress=False)
        train_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = trainer.evaluate(valid_data, load_best_model=False, show_progress=False)
        eval_s.append(time.perf_counter() - t)
        ndcg = float(result["ndcg@10"])
    rows = len(train_data.dataset)
    print(f"params={params} train_rows={rows} seconds={warm_median(train_s):.6f} "
          f"eval_seconds={warm_median(eval_s):.6f} valid_ndcg10={ndcg:.4f}")


def safetensors_params(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    total = 0
    for k, v in header.items():
        if k != "__metadata__":
            size = 1
            for d in v["shape"]:
                size *= d
            total += size
    return total


def polyrec_side(binary, spec, epochs, threads):
    out = tempfile.mkdtemp(prefix="polyrec-train-")
    cmd = [binary, "train", "--spec", spec, "--model", "two_tower", "--split", "loo",
           "--threads", str(threads), "--seed", "1", "--epochs", str(epochs), "--out", out,
           "--set", "model.attributes=false", "--set", "model.text=false", "--set", "model.kg=false",
           "--set", 'model.history="none"', "--set", "model.id_dropout=0.0", "--set", "model.dropout=0.0",
           "--set", "model.normalize=false", "--set", 'model.loss="bpr"', "--set", "model.dim=64",
           # windows of up to 50 interactions: 41 windows is about 2,048 interactions a batch
           "--set", "train.batch_size=41", "--set", "train.lr=0.001", "--set", "train.patience=0"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"polyrec train failed:\n{proc.stderr[-4000:]}")
    history = [json.loads(l) for l in open(os.path.join(out, "history.jsonl"))]
    train_s = [h["train_seconds"] for h in history]
    eval_s = [h["valid_seconds"] for h in history]
    ndcg = max(h["valid_score"] for h in history)
    params = safetensors_params(os.path.join(out, "model.safetensors"))
    samples = history[-1]["samples_per_sec"] * history[-1]["train_seconds"]
    print(f"params={params} train_rows={samples:.0f} seconds={warm_median(train_s):.6f} "
          f"eval_seconds={warm_median(eval_s):.6f} valid_ndcg10={ndcg:.4f}")
    shutil.rmtree(out, ignore_errors=True)


def run(binary, spec, data_dir, recbole_python, epochs, threads, rounds):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sxs

    sides = [
        sxs.Side("polyrec two-tower, ids only, BPR", f"{threads} threads (libtorch)",
                 [sys.executable, __file__, "polyrec", binary, spec, str(epochs), str(threads)]),
        sxs.Side("RecBole 1.2.1 BPR", f"{threads} threads (torch)",
                 [recbole_python, __file__, "recbole", data_dir, str(epochs), str(threads)],
                 {"OMP_NUM_THREADS": str(threads)}),
    ]

    def check(results):
        parts = []
        for name, rs in results.items():
            parts.append(f"{name}: {int(rs[0]['params']):,} parameters, {int(rs[0]['train_rows']):,} "
                         f"training interactions, best valid ndcg@10 {statistics.median(r['valid_ndcg10'] for r in rs):.4f}")
        return "; ".join(parts)

    sxs.run("two-tower BPR: epoch time", sides, rounds, check, also=("eval_seconds",),
            workload=f"ML-100K leave-one-out, {epochs} epochs per round, median epoch of 2..{epochs}; "
                     "eval = full ranking of the 943 validation users",
            note="seconds = one training epoch; eval_seconds = one full-ranking validation pass")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "recbole":
        recbole_side(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "polyrec":
        polyrec_side(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]))
    else:
        sys.exit(__doc__)
