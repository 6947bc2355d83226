"""pandas side of benches/data_vs_pandas.sh: read_csv of every ML-100K file, timed."""
import sys
import time

import pandas as pd

data, repeats = sys.argv[1], int(sys.argv[2])
files = ["ml-100k.inter", "ml-100k.user", "ml-100k.item", "ml-100k.kg", "ml-100k.link"]
start = time.perf_counter()
rows = 0
for _ in range(repeats):
    rows = sum(len(pd.read_csv(f"{data}/{f}", sep="\t")) for f in files)
secs = (time.perf_counter() - start) / repeats
print(f"rows={rows} seconds_per_load={secs:.5f} rows_per_s={rows / secs:.0f}")
