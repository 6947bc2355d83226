"""Prints the latest result of every side-by-side benchmark in
$POLYREC_HOME/bench-results.jsonl (or the file given) as Markdown: one table per
benchmark, then the JSON line it was made from. docs/benchmarks.md is pasted from this.

    python3 benches/report.py [RESULTS.jsonl] [BENCH_NAME ...]
"""
import json
import os
import sys


def fmt(x):
    return f"{x:.4f}" if x < 10 else f"{x:.2f}"


def main():
    args = sys.argv[1:]
    path = args.pop(0) if args and args[0].endswith(".jsonl") else os.path.join(
        os.environ.get("POLYREC_HOME", os.path.expanduser("~/.cache/polyrec")), "bench-results.jsonl")
    latest = {}
    for line in open(path):
        if line.strip():
            rec = json.loads(line)
            latest[rec["bench"]] = (rec, line.strip())
    for name in args or list(latest):
        if name not in latest:
            sys.exit(f"no result named {name!r} in {path}")
        rec, line = latest[name]
        print(f"### {name}\n")
        print(f"{rec['workload']}. {rec['rounds']} alternating rounds after a warm-up round, "
              f"{rec['date']}, {rec['cpu']}.\n")
        extra = sorted({k[: -len("_median")] for s in rec["sides"] for k in s if k.endswith("_median")})
        head = "| side | runs on | median s | min-max s | its median / the first side's |"
        for k in extra:
            head += f" {k} median (min-max) | ratio |"
        print(head)
        print("|---" * (5 + 2 * len(extra)) + "|")
        first = rec["sides"][0]
        for s in rec["sides"]:
            ratio = "-" if s is first else "%.2fx" % s["speedup_of_first"]
            row = "| %s | %s | %s | %s-%s | %s |" % (s["name"], s["on"], fmt(s["median"]), fmt(s["min"]),
                                                   fmt(s["max"]), ratio)
            for k in extra:
                m = s[k + "_median"]
                r = "-" if s is first else "%.2fx" % (m / first[k + "_median"])
                row += " %s (%s-%s) | %s |" % (fmt(m), fmt(s[k + "_min"]), fmt(s[k + "_max"]), r)
            print(row)
        print(f"\nAgreement: {rec['agreement']}.")
        if rec.get("note"):
            print(f"Note: {rec['note']}.")
        print(f"\n```json\n{line}\n```\n")


if __name__ == "__main__":
    main()
