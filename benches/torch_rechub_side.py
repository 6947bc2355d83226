"""torch-rechub side of benches/train_vs_torch_rechub.sh.

  torch_rechub_side.py MODEL SEED EPOCHS THREADS DATA_DIR SPLIT_FILE
      Trains torch-rechub's SharedBottom / MMOE / PLE (MODEL: shared_bottom | mmoe | ple) on
      MovieLens-100K with the protocol of the shell script and prints one JSON line.
  torch_rechub_side.py --make-split INTER_FILE SPLIT_FILE
      Writes the 80/10/10 split file (np.random.default_rng(2024).permutation(n)).
  torch_rechub_side.py --check-split INTER_FILE SPLIT_FILE
      Checks an existing split file (row count, 80,000/10,000/10,000, first test rows).
  torch_rechub_side.py --make-cuda-stubs
      Makes the PyPI torch wheel importable without its CUDA dependency wheels (see below).
  torch_rechub_side.py --polyrec-line OUT_DIR MODEL SEED EPOCHS THREADS SPLIT_FILE
      The same JSON line for a polyrec run, from OUT_DIR/metrics.json and history.jsonl.
  torch_rechub_side.py --summary RESULTS_JSONL
      The table of medians per model and side (standard library only).

Protocol (polyrec's examples/data/ml-100k-protocol.toml + examples/train/protocol-*.toml must match):
  features, all sparse with 16-d embeddings: user id, item id, age band (= the scenario: age
  1-24 / 25-34 / 35+), gender, occupation, first genre (first token of `class`), release
  decade (release_year // 10 * 10; missing or non-numeric, as for items 267 and 1412, -> its
  own value "missing"); vocabularies are built over all 100,000 rows (an id seen only in
  valid/test keeps its untrained initial embedding);
  tasks: like = rating >= 4 (classification, BCE) and rating (regression, MSE on the raw 1-5
  value); torch-rechub's MTLTrainer loss = (BCE + MSE) / 2; Adam lr 1e-3, weight decay 1e-6,
  batch 1024, shuffled each epoch, fixed number of epochs (no early stopping, no validation
  pass inside the timed loop); bottom / experts MLP [128, 64], towers [32] + Linear(32, 1);
  MMoE 4 experts; PLE 2 levels, 1 shared + 1 task-specific expert per task.
  torch-rechub defaults kept where the protocol says nothing: every MLP hidden layer is
  Linear -> BatchNorm1d -> ReLU -> Dropout(0); the MMoE/PLE gates are Linear -> BatchNorm1d ->
  softmax; embeddings start at N(0, 1e-4); data go through torch-rechub's DataGenerator
  (TorchDataset + DataLoader, num_workers=0), as in its examples; its per-row __getitem__
  and default collation are part of the timed training (about 1.5 s of the ~2.6 s of a
  Shared-Bottom epoch on one thread).
  Timing: train_seconds = wall time of MTLTrainer.train_one_epoch over all epochs (batching
  and collation included; file reading, encoding and evaluation excluded);
  train_samples_per_sec = training rows x epochs / train_seconds.
  Metrics on the test rows: AUC of like (sklearn roc_auc_score) overall and per scenario,
  RMSE of rating with predictions clamped to [1, 5].
"""
import contextlib
import json
import os
import subprocess
import sys
import time

SCENARIOS = ["age 1-24", "age 25-34", "age 35+"]
FIRST_TEST_ROWS = [34307, 28494, 82149, 77295, 20077]
SPLIT_SEED = 2024


def read_table(path):
    """A RecBole atomic file as a DataFrame of strings, `name:type` headers cut to `name`."""
    import csv

    import pandas as pd

    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
    df.columns = [c.split(":")[0] for c in df.columns]
    return df


def count_rows(inter_file):
    with open(inter_file, "rb") as f:
        return sum(1 for line in f) - 1  # header


def split_labels(n):
    import numpy as np

    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_train, n_valid = int(n * 0.8), int(n * 0.1)
    labels = np.empty(n, dtype=object)
    labels[perm[:n_train]] = "train"
    labels[perm[n_train:n_train + n_valid]] = "valid"
    labels[perm[n_train + n_valid:]] = "test"
    return perm[n_train + n_valid:], labels


def make_split(inter_file, split_file):
    n = count_rows(inter_file)
    test_rows, labels = split_labels(n)
    if n == 100000 and list(test_rows[:5]) != FIRST_TEST_ROWS:
        sys.exit(f"split: first test rows {list(test_rows[:5])}, expected {FIRST_TEST_ROWS}")
    os.makedirs(os.path.dirname(os.path.abspath(split_file)), exist_ok=True)
    tmp = split_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(labels) + "\n")
    os.replace(tmp, split_file)
    check_split(inter_file, split_file)


def check_split(inter_file, split_file):
    n = count_rows(inter_file)
    with open(split_file) as f:
        words = f.read().split()
    if len(words) != n:
        sys.exit(f"split: {split_file} has {len(words)} words for {n} rows of {inter_file}")
    counts = {w: words.count(w) for w in ("train", "valid", "test")}
    if sum(counts.values()) != n:
        sys.exit(f"split: {split_file} has words other than train/valid/test")
    test_rows = [i for i, w in enumerate(words) if w == "test"]
    expected_test = split_labels(n)[0]
    same = sorted(test_rows) == sorted(expected_test.tolist())
    print(f"split {split_file}: train {counts['train']}, valid {counts['valid']}, test {counts['test']}; "
          f"test rows {'match' if same else 'DIFFER FROM'} default_rng({SPLIT_SEED}).permutation({n})"
          f" (first test rows {expected_test[:5].tolist()})", file=sys.stderr)
    if n == 100000 and (counts["train"], counts["valid"], counts["test"]) != (80000, 10000, 10000):
        sys.exit("split: expected 80,000/10,000/10,000")
    return words


def load(data_dir, split_file):
    """Encoded features, labels and split of ML-100K, as numpy arrays."""
    import numpy as np

    inter = read_table(os.path.join(data_dir, "ml-100k.inter"))
    users = read_table(os.path.join(data_dir, "ml-100k.user")).set_index("user_id")
    items = read_table(os.path.join(data_dir, "ml-100k.item")).set_index("item_id")
    words = check_split(os.path.join(data_dir, "ml-100k.inter"), split_file)

    def age_band(a):
        a = int(a)
        return SCENARIOS[0] if a <= 24 else SCENARIOS[1] if a <= 34 else SCENARIOS[2]

    def decade(y):
        # Non-numeric years in the file (item 267: "unkonwn", item 1412: "V") count as missing.
        y = y.strip()
        return str(int(y) // 10 * 10) if y.isdigit() else "missing"

    def first_genre(c):
        c = c.split()
        return c[0] if c else "missing"

    u = users.loc[inter["user_id"]]
    it = items.loc[inter["item_id"]]
    raw = {
        "user_id": inter["user_id"].to_numpy(),
        "item_id": inter["item_id"].to_numpy(),
        "age_band": np.array([age_band(a) for a in u["age"]]),
        "gender": u["gender"].to_numpy(),
        "occupation": u["occupation"].to_numpy(),
        "first_genre": np.array([first_genre(c) for c in it["class"]]),
        "release_decade": np.array([decade(y) for y in it["release_year"]]),
    }
    x, vocab = {}, {}
    for name, col in raw.items():
        values, codes = np.unique(col.astype(str), return_inverse=True)
        x[name] = codes.astype(np.int64)
        vocab[name] = len(values)
    rating = inter["rating"].astype(float).to_numpy()
    y = np.stack([(rating >= 4).astype(np.float32), rating.astype(np.float32)], axis=1)
    split = np.array(words)
    return x, y, vocab, raw["age_band"], split


def build_model(name, features):
    from torch_rechub.models.multi_task import MMOE, PLE, SharedBottom

    task_types = ["classification", "regression"]
    hidden = {"dims": [128, 64]}
    towers = [{"dims": [32]} for _ in task_types]
    if name == "shared_bottom":
        return SharedBottom(features, task_types, bottom_params=hidden, tower_params_list=towers)
    if name == "mmoe":
        return MMOE(features, task_types, n_expert=4, expert_params=hidden, tower_params_list=towers)
    if name == "ple":
        return PLE(features, task_types, n_level=2, n_expert_specific=1, n_expert_shared=1,
                   expert_params=hidden, tower_params_list=towers)
    sys.exit(f"unknown model {name!r} (shared_bottom | mmoe | ple)")


def train(model_name, seed, epochs, threads, data_dir, split_file):
    os.environ.setdefault("TQDM_DISABLE", "1")  # read by tqdm at import
    import random
    import tempfile

    import numpy as np
    import torch
    from sklearn.metrics import roc_auc_score
    from torch_rechub.basic.features import SparseFeature
    from torch_rechub.trainers import MTLTrainer
    from torch_rechub.utils.data import DataGenerator

    torch.set_num_threads(threads)
    x, y, vocab, scenario, split = load(data_dir, split_file)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    def part(w):
        m = split == w
        return {k: v[m] for k, v in x.items()}, y[m]

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = part("train"), part("valid"), part("test")
    features = [SparseFeature(k, vocab_size=vocab[k], embed_dim=16) for k in x]
    model = build_model(model_name, features)
    train_dl, _, _ = DataGenerator(x_tr, y_tr).generate_dataloader(
        x_val=x_va, y_val=y_va, x_test=x_te, y_test=y_te, batch_size=1024)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        trainer = MTLTrainer(model, task_types=["classification", "regression"],
                             optimizer_params={"lr": 1e-3, "weight_decay": 1e-6},
                             n_epoch=epochs, device="cpu", model_path=tmp)
        t0 = time.perf_counter()
        for _ in range(epochs):
            trainer.train_one_epoch(train_dl)
        train_seconds = time.perf_counter() - t0

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(y_te), 1024):
            preds.append(model({k: torch.from_numpy(v[i:i + 1024]) for k, v in x_te.items()}).numpy())
    p = np.concatenate(preds)
    like, rating = y_te[:, 0], y_te[:, 1]
    sc = scenario[split == "test"]
    by_scenario = {s: float(roc_auc_score(like[sc == s], p[sc == s, 0])) for s in SCENARIOS}
    rmse = float(np.sqrt(np.mean((np.clip(p[:, 1], 1.0, 5.0) - rating) ** 2)))
    print(json.dumps({
        "side": "torch-rechub", "model": model_name, "seed": seed, "epochs": epochs, "threads": threads,
        "like_auc": float(roc_auc_score(like, p[:, 0])), "like_auc_by_scenario": by_scenario,
        "rating_rmse": rmse, "train_samples_per_sec": len(y_tr) * epochs / train_seconds,
        "train_seconds": train_seconds,
    }))


def make_cuda_stubs():
    """The Linux x86_64 torch wheels on PyPI are CUDA builds: torch/_C needs libcudnn.so.9,
    libcublas.so.13, libnccl.so.2, ... at load time even on a CPU-only machine. Installed
    with --no-deps (no multi-GB nvidia-* wheels), `import torch` fails on those. This writes,
    for each missing library that torch/_C loads, a tiny stand-in with the same file name that
    defines every symbol torch takes from it as a function that aborts with a message, into
    site-packages/nvidia/cu13/lib (on torch's RPATH). CPU code paths never call them;
    torch.cuda.is_available() stays False (the real libcudart finds no driver).
    Needs gcc, ldd and nm (binutils)."""
    import glob
    import sysconfig

    site = sysconfig.get_paths()["purelib"]
    out = os.path.join(site, "nvidia", "cu13", "lib")
    os.makedirs(out, exist_ok=True)
    ext = glob.glob(os.path.join(site, "torch", "_C.*.so"))
    if not ext:
        sys.exit(f"cuda stubs: no torch/_C*.so under {site}")

    def ldd(path):
        found, missing = [], []
        for line in subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout.splitlines():
            parts = line.split()
            if "not found" in line:
                missing.append(parts[0])
            elif "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                found.append(parts[2])
        return found, missing

    def nm(path, undefined):
        flag = "--undefined-only" if undefined else "--defined-only"
        res = subprocess.run(["nm", "-D", flag, path], capture_output=True, text=True, check=True).stdout
        syms = {}
        for line in res.splitlines():
            parts = line.split()
            if len(parts) < 2 or (undefined and parts[-2] != "U"):
                continue  # weak undefined symbols need no definition
            name, _, version = parts[-1].partition("@")
            syms[name] = version.lstrip("@")
        return syms

    found, missing = ldd(ext[0])
    if not missing:
        print("cuda stubs: nothing missing", file=sys.stderr)
        return
    found = [ext[0]] + found
    defined = set()
    for f in found:
        defined |= set(nm(f, False))
    need = {}
    for f in found:
        if f.startswith(site):
            for name, version in nm(f, True).items():
                if name not in defined:
                    need[name] = version
    per_lib = {m: [] for m in missing}
    for name, version in sorted(need.items()):
        per_lib[version if version in per_lib else sorted(missing)[0]].append(name)
    for lib, names in per_lib.items():
        src = os.path.join(out, lib + ".stub.c")
        with open(src, "w") as f:
            f.write("#include <stdio.h>\n#include <stdlib.h>\n"
                    "static void stub_called(const char *s) {\n"
                    f"  fprintf(stderr, \"{lib} is a CPU-only stand-in (benches/torch_rechub_side.py): %s called\\n\", s);\n"
                    "  abort();\n}\n")
            for i, name in enumerate(names):
                f.write(f'void s{i}(void) __asm__("{name}");\nvoid s{i}(void) {{ stub_called("{name}"); }}\n')
        subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", os.path.join(out, lib), f"-Wl,-soname,{lib}", src],
                       check=True)
        os.remove(src)
        print(f"cuda stubs: {out}/{lib} ({len(names)} symbols)", file=sys.stderr)


def polyrec_line(out_dir, model, seed, epochs, threads, split_file):
    with open(os.path.join(out_dir, "metrics.json")) as f:
        m = json.load(f)
    with open(os.path.join(out_dir, "history.jsonl")) as f:
        history = [json.loads(line) for line in f if line.strip()]
    sps = [float(h["samples_per_sec"]) for h in history if h.get("samples_per_sec")]
    if len(sps) != epochs:
        print(f"polyrec: {len(sps)} epochs with samples_per_sec in history.jsonl, expected {epochs}",
              file=sys.stderr)
    with open(split_file) as f:
        n_train = f.read().split().count("train")
    # Same measure as the torch-rechub side: all training samples over the summed epoch times.
    seconds = sum(n_train / v for v in sps)
    print(json.dumps({
        "side": "polyrec", "model": model, "seed": seed, "epochs": epochs, "threads": threads,
        "like_auc": m["overall"]["like"]["auc"],
        "like_auc_by_scenario": {s: m[s]["like"]["auc"] for s in SCENARIOS},
        "rating_rmse": m["overall"]["rating"]["rmse"],
        "train_samples_per_sec": n_train * len(sps) / seconds if seconds else None,
        "train_seconds": seconds,
    }))


def summary(results):
    from statistics import median

    with open(results) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    groups, models = {}, []
    for r in rows:
        groups.setdefault((r["model"], r["side"]), []).append(r)
        if r["model"] not in models:
            models.append(r["model"])
    head = ["model", "side", "runs", "like AUC"] + SCENARIOS + ["rating RMSE", "samples/s", "speed polyrec/rechub"]
    table = []
    for model in models:
        speed = {}
        for side in ("polyrec", "torch-rechub"):
            g = groups.get((model, side))
            if not g:
                continue
            speed[side] = median(r["train_samples_per_sec"] for r in g)
            table.append([model, side, str(len(g)), f"{median(r['like_auc'] for r in g):.4f}"]
                         + [f"{median(r['like_auc_by_scenario'][s] for r in g):.4f}" for s in SCENARIOS]
                         + [f"{median(r['rating_rmse'] for r in g):.4f}", f"{speed[side]:,.0f}", ""])
        if len(speed) == 2:
            table[-2][-1] = f"{speed['polyrec'] / speed['torch-rechub']:.2f}x"
    epochs = sorted({r["epochs"] for r in rows})
    threads = sorted({r["threads"] for r in rows})
    print(f"medians over seeds; epochs {epochs}, threads {threads}; test split; {results}")
    widths = [max(len(x[i]) for x in [head] + table) for i in range(len(head))]
    for line in [head] + table:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))


def main(argv):
    if argv[:1] == ["--make-split"] and len(argv) == 3:
        make_split(argv[1], argv[2])
    elif argv[:1] == ["--check-split"] and len(argv) == 3:
        check_split(argv[1], argv[2])
    elif argv == ["--make-cuda-stubs"]:
        make_cuda_stubs()
    elif argv[:1] == ["--polyrec-line"] and len(argv) == 7:
        out_dir, model, seed, epochs, threads, split_file = argv[1:]
        polyrec_line(out_dir, model, int(seed), int(epochs), int(threads), split_file)
    elif argv[:1] == ["--summary"] and len(argv) == 2:
        summary(argv[1])
    elif len(argv) == 6:
        model, seed, epochs, threads, data_dir, split_file = argv
        train(model, int(seed), int(epochs), int(threads), data_dir, split_file)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
