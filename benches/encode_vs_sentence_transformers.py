"""sentence-transformers side of benches/encode_vs_sentence_transformers.sh."""
import json
import sys
import time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

model_dir, texts_path, threads, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
texts = [json.loads(l) for l in open(texts_path, encoding="utf-8")]
model = SentenceTransformer(model_dir, device="cpu")
start = time.perf_counter()
emb = model.encode(texts, batch_size=batch, convert_to_numpy=True)
secs = time.perf_counter() - start
np.save(texts_path + ".st.npy", emb.astype(np.float32))
print(f"texts={len(texts)} seconds={secs:.3f} sentences_per_s={len(texts) / secs:.1f}")
