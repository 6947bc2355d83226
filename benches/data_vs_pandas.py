"""Ingest of the five ML-100K files: polyrec (parse + validate into a Dataset) against
pandas `read_csv` (parse only), with its C engine and its multi-threaded pyarrow engine.

`side ENGINE DATA REPEATS`: one pandas side: one untimed load, then REPEATS timed loads;
prints the mean seconds per load.
`run DATA EXAMPLE SPEC REPEATS ROUNDS`: the side-by-side (benches/sxs.py).
"""
import os
import sys
import time

FILES = ["ml-100k.inter", "ml-100k.user", "ml-100k.item", "ml-100k.kg", "ml-100k.link"]


def side(engine, data, repeats):
    import pandas as pd

    def load():
        return sum(len(pd.read_csv(f"{data}/{f}", sep="\t", engine=engine)) for f in FILES)

    rows = load()
    start = time.perf_counter()
    for _ in range(repeats):
        rows = load()
    secs = (time.perf_counter() - start) / repeats
    print(f"rows={rows} seconds={secs:.6f} rows_per_s={rows / secs:.0f}")


def run(data, example, spec, repeats, rounds):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sxs

    py = sys.executable
    sides = [
        sxs.Side("polyrec (parse + validate into a Dataset)",
                 "2 threads (the KG's triples beside the catalogs and the log)",
                 [example, spec, str(repeats)], {"RAYON_NUM_THREADS": "2"}),
        sxs.Side("polyrec, 1 thread", "1 thread",
                 [example, spec, str(repeats)], {"RAYON_NUM_THREADS": "1"}),
        sxs.Side("pandas read_csv, C engine (parse only)", "1 thread (no parallel path)",
                 [py, __file__, "side", "c", data, str(repeats)]),
        sxs.Side("pandas read_csv, pyarrow engine (parse only)", "2 threads (Arrow's pool)",
                 [py, __file__, "side", "pyarrow", data, str(repeats)], {"OMP_NUM_THREADS": "2"}),
    ]

    def check(results):
        rows = {k: {int(r["rows"]) for r in v} for k, v in results.items()}
        polyrec = rows[sides[0].name]
        # polyrec counts data rows (header excluded), as pandas does.
        if any(v != polyrec for v in rows.values()):
            sys.exit(f"row counts differ: {rows}")
        return f"every side read {next(iter(polyrec)):,} data rows"

    sxs.run("ingest ML-100K", sides, rounds, check,
            workload=f"the five ML-100K atomic files (interactions, users, items, KG, links), mean of {repeats} loads per round")


if __name__ == "__main__":
    if sys.argv[1] == "side":
        side(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        sys.exit(__doc__)
