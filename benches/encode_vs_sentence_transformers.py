"""Side by side: sentence embeddings of the same 6,682 real texts, polyrec's encoder against
sentence-transformers in its fastest CPU configurations, on the same cores.

Run by benches/encode_vs_sentence_transformers.sh (which installs the venv) with that
venv's python. The sides, each a separate command that encodes every text once untimed
(warm-up) and then once timed (see benches/sxs.py):

  polyrec                    examples/encode_throughput: 1 process, THREADS workers x 1
                             libtorch thread (the tokenizer on THREADS rayon threads)
  st-torch                   SentenceTransformer(...).encode, 1 process,
                             torch.set_num_threads(THREADS)
  st-torch-pool              start_multi_process_pool(["cpu"] * THREADS) and
                             encode(..., pool=pool): THREADS processes x 1 torch thread
  st-onnx                    SentenceTransformer(..., backend="onnx"), ONNX Runtime's CPU
                             provider with THREADS intra-op threads, 1 process
  st-onnx-procs              the same ONNX model in THREADS processes x 1 intra-op thread,
                             fed with ST's own chunking (ST's pool cannot send an ONNX Runtime
                             session to its workers, so this side starts its own processes);
                             not run by default (slower than st-onnx on 2 cores): SIDES=...

Batch size BATCH (default 32, sentence-transformers' default) on every side; every side
sorts its texts by length before batching (ST does so itself). The ONNX model is exported
on this machine from the same weights (no download) into $POLYREC_HOME/bench-onnx-model,
a copy of the model folder.

The check: cosine between polyrec's embedding and each peer's for every text; the run fails
when the worst is below 0.9999.

Environment: ROUNDS (5), THREADS (2), BATCH (32), SIDES (comma-separated peers, default
st-torch,st-torch-pool,st-onnx), LIMIT (encode only LIMIT texts, every k-th: for trying the script),
POLYREC_BIN (the built example).

Internal entry points:  --side NAME TEXTS OUT.npy   |   --export-onnx MODEL_DIR OUT_DIR
"""
import hashlib
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MIN_COSINE = 0.9999
PEERS = ["st-torch", "st-torch-pool", "st-onnx", "st-onnx-procs"]
# st-onnx-procs is left out by default: on 2 cores it measured slower than st-onnx (about
# 1.5x the time), so st-onnx is ONNX Runtime's strongest configuration. SIDES=... adds it.
DEFAULT_PEERS = ["st-torch", "st-torch-pool", "st-onnx"]


def env_int(name, default):
    return int(os.environ.get(name, default))


def read_texts(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ---------------------------------------------------------------------------------------
# The sentence-transformers sides (run in their own processes).


def onnx_session_options(threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return so


def load_onnx(onnx_dir, threads):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(
        onnx_dir,
        device="cpu",
        backend="onnx",
        local_files_only=True,
        model_kwargs={
            "provider": "CPUExecutionProvider",
            "file_name": "onnx/model.onnx",
            "session_options": onnx_session_options(threads),
        },
    )


def onnx_worker(onnx_dir, inputs, outputs):
    """One process of st-onnx-procs: one intra-op thread, chunks in, embeddings out."""
    import torch

    torch.set_num_threads(1)
    model = load_onnx(onnx_dir, 1)
    outputs.put(("ready", None))
    while True:
        item = inputs.get()
        if item is None:
            return
        chunk_id, chunk, batch = item
        emb = model.encode(chunk, batch_size=batch, convert_to_numpy=True, show_progress_bar=False)
        outputs.put((chunk_id, emb))


class OnnxProcesses:
    """ST's multi-process encoding (its chunk size, its queues), with workers that load the
    ONNX model themselves."""

    def __init__(self, onnx_dir, processes):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.inputs, self.outputs = ctx.Queue(), ctx.Queue()
        self.procs = [ctx.Process(target=onnx_worker, args=(onnx_dir, self.inputs, self.outputs), daemon=True)
                      for _ in range(processes)]
        for p in self.procs:
            p.start()
        for _ in self.procs:
            tag, _ = self.outputs.get()
            assert tag == "ready"

    def encode(self, texts, batch):
        import math

        import numpy as np

        size = max(min(math.ceil(len(texts) / len(self.procs) / 10), 5000), 1)
        n = 0
        for n, start in enumerate(range(0, len(texts), size), 1):
            self.inputs.put((n - 1, texts[start:start + size], batch))
        parts = sorted((self.outputs.get() for _ in range(n)), key=lambda x: x[0])
        return np.concatenate([p[1] for p in parts], axis=0)

    def close(self):
        for _ in self.procs:
            self.inputs.put(None)
        for p in self.procs:
            p.join()


def run_side(name, texts_path, out_path):
    import numpy as np
    import torch

    threads, batch = env_int("THREADS", 2), env_int("BATCH", 32)
    model_dir, onnx_dir = os.environ["POLYREC_MODEL_DIR"], os.environ["BENCH_ONNX_DIR"]
    texts = read_texts(texts_path)
    close = lambda: None
    if name == "st-torch":
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
        encode = lambda: model.encode(texts, batch_size=batch, convert_to_numpy=True, show_progress_bar=False)
        on = f"torch_threads={torch.get_num_threads()}"
    elif name == "st-torch-pool":
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)  # the parent only queues; the workers inherit OMP_NUM_THREADS=1
        model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
        pool = model.start_multi_process_pool(["cpu"] * threads)
        encode = lambda: model.encode(texts, batch_size=batch, pool=pool, convert_to_numpy=True,
                                      show_progress_bar=False)
        close = lambda: model.stop_multi_process_pool(pool)
        on = f"processes={threads} torch_threads_each=1"
    elif name == "st-onnx":
        torch.set_num_threads(1)
        model = load_onnx(onnx_dir, threads)
        encode = lambda: model.encode(texts, batch_size=batch, convert_to_numpy=True, show_progress_bar=False)
        on = f"ort_intra_op_threads={threads}"
    elif name == "st-onnx-procs":
        torch.set_num_threads(1)
        pool = OnnxProcesses(onnx_dir, threads)
        encode = lambda: pool.encode(texts, batch)
        close = pool.close
        on = f"processes={threads} ort_intra_op_threads_each=1"
    else:
        sys.exit(f"unknown side {name}")
    warm = time.perf_counter()
    encode()
    warm = time.perf_counter() - warm
    start = time.perf_counter()
    emb = encode()
    secs = time.perf_counter() - start
    close()
    emb = np.asarray(emb, dtype=np.float32)
    np.save(out_path, emb)
    print(f"texts={emb.shape[0]} dim={emb.shape[1]} batch={batch} {on} warmup_seconds={warm:.3f} "
          f"seconds={secs:.3f} sentences_per_s={emb.shape[0] / secs:.1f}", flush=True)


# ---------------------------------------------------------------------------------------
# The ONNX export (once per machine and model).


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_onnx(model_dir, out_dir):
    """Copies the model folder to out_dir and exports its weights to out_dir/onnx/model.onnx
    with sentence-transformers' ONNX backend (optimum's exporter), unless a previous export
    of the same weights with the same versions is there."""
    import onnxruntime
    import optimum.version
    import sentence_transformers
    import torch
    import transformers

    stamp = {
        "weights_sha256": sha256(os.path.join(model_dir, "model.safetensors")),
        "versions": [torch.__version__, transformers.__version__, sentence_transformers.__version__,
                     optimum.version.__version__, onnxruntime.__version__],
    }
    stamp_path = os.path.join(out_dir, "export.json")
    if os.path.exists(os.path.join(out_dir, "onnx", "model.onnx")) and os.path.exists(stamp_path):
        with open(stamp_path) as f:
            if json.load(f) == stamp:
                return
    from sentence_transformers import SentenceTransformer

    # The export goes into a scratch copy (ST's save_pretrained rewrites the folder's configs
    # in its own version's layout); only its onnx/ folder is kept, next to an unchanged copy
    # of the model folder.
    scratch, tmp = out_dir + ".export", out_dir + ".partial"
    for d in (scratch, tmp):
        shutil.rmtree(d, ignore_errors=True)
        copy_model(model_dir, d)
    print(f"exporting {model_dir} to ONNX in {out_dir}", file=sys.stderr)
    model = SentenceTransformer(scratch, device="cpu", backend="onnx", local_files_only=True,
                                model_kwargs={"provider": "CPUExecutionProvider"})
    model.save_pretrained(scratch)
    if not os.path.exists(os.path.join(scratch, "onnx", "model.onnx")):
        sys.exit(f"the export wrote no {scratch}/onnx/model.onnx")
    shutil.move(os.path.join(scratch, "onnx"), os.path.join(tmp, "onnx"))
    shutil.rmtree(scratch)
    with open(os.path.join(tmp, "export.json"), "w") as f:
        json.dump(stamp, f)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)


def copy_model(src, dst):
    """A writable copy of a (possibly read-only) model folder, without exported backends."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("onnx", "openvino"))
    for root, dirs, files in os.walk(dst):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


# ---------------------------------------------------------------------------------------
# The driver.


def main():
    import numpy as np

    import encode_texts
    import sxs

    home = os.environ["POLYREC_HOME"]
    rounds, threads, batch = env_int("ROUNDS", 5), env_int("THREADS", 2), env_int("BATCH", 32)
    limit = env_int("LIMIT", 0)
    peers = [s for s in os.environ.get("SIDES", ",".join(DEFAULT_PEERS)).split(",") if s]
    unknown = set(peers) - set(PEERS)
    if unknown:
        sys.exit(f"unknown sides {sorted(unknown)}; known: {PEERS}")
    work = os.path.join(home, "bench-encode")
    os.makedirs(work, exist_ok=True)
    texts = encode_texts.bench_texts(
        os.environ["POLYREC_DATA_DIR"],
        os.path.join(home, "data", "widedeep", "WomensClothingE-CommerceReviews.parquet.brotli"))
    first_review = len(texts) - encode_texts.REVIEWS
    keep = range(len(texts))
    if limit:  # every k-th text, so that both sources stay in
        keep = keep[::max(1, len(texts) // limit)][:limit]
    texts = [texts[i] for i in keep]
    items = sum(i < first_review for i in keep)
    texts_path = os.path.join(work, "texts.jsonl")
    encode_texts.write(texts, texts_path)
    onnx_dir = os.path.join(home, "bench-onnx-model")
    if any(p.startswith("st-onnx") for p in peers):
        export_onnx(os.environ["POLYREC_MODEL_DIR"], onnx_dir)

    import onnxruntime
    import sentence_transformers
    import torch
    import transformers

    versions = (f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, "
                f"transformers {transformers.__version__}, onnxruntime {onnxruntime.__version__}")
    binary = os.environ.get("POLYREC_BIN", os.path.join(HERE, "..", "target", "release", "examples",
                                                        "encode_throughput"))
    out = lambda name: os.path.join(work, f"{name}.npy")
    one = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "BENCH_ONNX_DIR": onnx_dir, "THREADS": str(threads), "BATCH": str(batch)}
    st = lambda name, on, env: sxs.Side(name, on, [sys.executable, os.path.abspath(__file__), "--side", name,
                                                   texts_path, out(name)], {**offline, **env})
    catalogue = {
        "st-torch": st("st-torch", f"1 process x {threads} threads",
                       {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}),
        "st-torch-pool": st("st-torch-pool", f"{threads} processes x 1 thread", one),
        "st-onnx": st("st-onnx", f"1 process x {threads} intra-op threads", one),
        "st-onnx-procs": st("st-onnx-procs", f"{threads} processes x 1 thread", one),
    }
    sides = [sxs.Side("polyrec", f"1 process, {threads} workers x 1 thread",
                      [binary, texts_path, str(batch), str(threads), out("polyrec")],
                      {**one, "RAYON_NUM_THREADS": str(threads)})]
    sides += [catalogue[p] for p in peers]

    def check(results):
        counts = {name: {int(r["texts"]) for r in rs} for name, rs in results.items()}
        if any(c != {len(texts)} for c in counts.values()):
            sys.exit(f"text counts differ: {counts} (expected {len(texts)})")
        ref = np.load(out("polyrec"))
        ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
        worst = {}
        for p in peers:
            emb = np.load(out(p))
            if emb.shape != ref.shape:
                sys.exit(f"{p}: embeddings {emb.shape}, polyrec {ref.shape}")
            cos = (ref * (emb / np.linalg.norm(emb, axis=1, keepdims=True))).sum(1)
            i = int(np.argmin(cos))
            worst[p] = (float(cos[i]), i)
        line = "; ".join(f"{p} worst cosine {c:.7f} (text {i})" for p, (c, i) in worst.items())
        print(f"cosine to polyrec over {len(texts)} texts: {line}")
        bad = {p: c for p, (c, _) in worst.items() if not c >= MIN_COSINE}
        if bad:
            sys.exit(f"embeddings disagree (cosine below {MIN_COSINE}): {bad}")
        return f"cosine to polyrec >= {MIN_COSINE} on all {len(texts)} texts for every peer ({line})"

    workload = (f"{len(texts)} texts ({items} ML-100K item texts + {len(texts) - items} Women's E-Commerce "
                f"Clothing reviews), all-MiniLM-L6-v2 fp32, batch {batch}, max_seq_length 256, encoded once untimed then once timed per run")
    note = (f"{versions}; ONNX model exported on the machine from the same safetensors with "
            f"sentence-transformers' ONNX backend (optimum-onnx); {threads} cores for every side")
    sxs.run("encode_vs_sentence_transformers", sides, rounds=rounds, check=check, note=note,
            workload=workload)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--side":
        run_side(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "--export-onnx":
        export_onnx(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 1:
        main()
    else:
        sys.exit(__doc__)
