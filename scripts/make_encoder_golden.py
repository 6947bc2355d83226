"""Regenerates encoder reference outputs with Python sentence-transformers, for any model.

    python scripts/make_encoder_golden.py MODEL_DIR TEXTS.jsonl OUT_DIR

writes OUT_DIR/public_token_ids.jsonl (input ids with special tokens, truncated at the
model's max_seq_length) and OUT_DIR/public_embeddings.npy (float32 [n, dim], the model's
modules.json pipeline). Needs torch and sentence-transformers (see
benches/encode_vs_sentence_transformers.sh for a virtual environment that has them).
"""
import json
import os
import sys

import numpy as np
from sentence_transformers import SentenceTransformer

model_dir, texts_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
texts = [json.loads(l) for l in open(texts_path, encoding="utf-8")]
model = SentenceTransformer(model_dir, device="cpu")
tok = model.tokenizer
with open(os.path.join(out, "public_token_ids.jsonl"), "w", encoding="utf-8") as f:
    for t in texts:
        ids = tok(t, truncation=True, max_length=model.max_seq_length)["input_ids"]
        f.write(json.dumps(ids) + "\n")
emb = model.encode(texts, batch_size=16, convert_to_numpy=True)
np.save(os.path.join(out, "public_embeddings.npy"), emb.astype(np.float32))
print(f"wrote {len(texts)} references to {out}")
