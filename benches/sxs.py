"""Side-by-side timing harness shared by the benches/*_vs_*.py drivers.

Every side is a separate command that warms itself up in-process (one untimed pass over
the same input), then times one pass and prints a single line of `key=value` pairs with
at least `seconds=`; the other keys are the values it computed, which the driver compares
across sides. The harness
  * runs one untimed warm-up round of every side (page cache, binaries, Python imports),
  * then ROUNDS timed rounds, alternating the order of the sides from round to round
    (A B, B A, ... and a rotation for more sides), so that a slow spell of the machine
    falls on every side,
  * prints each side's median and min-max with its thread count, the ratio of medians of
    every peer to the first side (polyrec),
  * and appends one JSON line with the date, the CPU model and all of the above to
    $POLYREC_HOME/bench-results.jsonl (docs/benchmarks.md quotes those lines).
"""
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass, field


@dataclass
class Side:
    name: str
    threads: str  # what the side runs on, as stated in the table: "2 threads", "2 processes x 1 thread"
    argv: list
    env: dict = field(default_factory=dict)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or "unknown"
    model = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name")), "unknown")
    flags = next((l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags")), [])
    simd = "avx512f" if "avx512f" in flags else ("avx2" if "avx2" in flags else "no avx2")
    return f"{model} ({os.cpu_count()} logical CPUs, {simd})"


def parse(line):
    out = {}
    for part in line.split():
        if "=" in part:
            k, v = part.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def run_side(side):
    env = dict(os.environ)
    env.update(side.env)
    proc = subprocess.run(side.argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{side.name} failed ({shlex.join(side.argv)}):\n{proc.stderr[-4000:]}")
    lines = [l for l in proc.stdout.splitlines() if "seconds=" in l]
    if not lines:
        sys.exit(f"{side.name} printed no `seconds=` line:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return parse(lines[-1])


def spread(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def run(bench, sides, rounds=5, check=None, note="", workload="", also=()):
    """Runs the rounds and reports. `check(results)` gets {side name: [parsed lines]} and
    returns a one-line statement of what agreed (it exits on disagreement). `also` names
    further timing keys every side prints (e.g. `eval_seconds`), each summarised the same
    way as `seconds`."""
    if rounds < 1:
        sys.exit("at least one round")
    print(f"== {bench}: {workload}", flush=True)
    print("warm-up round (not counted)", flush=True)
    for side in sides:
        run_side(side)
    results = {s.name: [] for s in sides}
    for r in range(rounds):
        order = sides[r % len(sides):] + sides[: r % len(sides)]
        if r % 2 == 1:
            order = list(reversed(order))
        for side in order:
            res = run_side(side)
            results[side.name].append(res)
            print(f"round {r + 1} {side.name}: {res['seconds']:.4f} s", flush=True)
    agreed = check(results) if check else "not checked"
    stats = {s.name: spread([x["seconds"] for x in results[s.name]]) for s in sides}
    base = stats[sides[0].name]["median"]
    print(f"\n{bench} ({rounds} alternating rounds, warm; {cpu_model()})")
    on = max([26] + [len(s.threads) for s in sides])
    print(f"{'side':<44} {'on':<{on}} {'median s':>10} {'min-max s':>19} {'ratio':>8}")
    for s in sides:
        st = stats[s.name]
        ratio = st["median"] / base
        print(f"{s.name:<44} {s.threads:<{on}} {st['median']:>10.4f} {st['min']:>9.4f}-{st['max']:<9.4f} "
              f"{ratio:>7.2f}x")
    print(f"(ratio = the side's median time / {sides[0].name}'s; agreement: {agreed})")
    extra = {}
    for key in also:
        extra[key] = {s.name: spread([x[key] for x in results[s.name]]) for s in sides}
        first = extra[key][sides[0].name]["median"]
        print(f"\n{key}:")
        for s in sides:
            st = extra[key][s.name]
            print(f"{s.name:<44} {s.threads:<26} {st['median']:>10.4f} {st['min']:>9.4f}-{st['max']:<9.4f} "
                  f"{st['median'] / first:>7.2f}x")
    record = {
        "bench": bench,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "workload": workload,
        "rounds": rounds,
        "sides": [
            {"name": s.name, "on": s.threads, **{k: round(v, 6) for k, v in stats[s.name].items()},
             "speedup_of_first": round(stats[s.name]["median"] / base, 3),
             **{f"{key}_{k}": round(v, 6) for key in also for k, v in extra[key][s.name].items()}}
            for s in sides
        ],
        "agreement": agreed,
        "note": note,
    }
    home = os.environ.get("POLYREC_HOME", os.path.expanduser("~/.cache/polyrec"))
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "bench-results.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record))
    return results, stats
