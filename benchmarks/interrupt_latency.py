"""How long a fit takes to return after Ctrl-C, on the benchmark nets.

``python benchmarks/interrupt_latency.py [repeats]`` runs each fit in a child
process (10 classes, float32, random data), sends it SIGINT half an epoch
after its second epoch ends, and prints the time from the signal to ``fit``
returning (the child stamps CLOCK_MONOTONIC, which both processes share):
hidden (100,) batch 200 on 20k x 100, and (512, 512) batch 256 on 20k x 784,
for each solver, with the default training threads and with one.
docs/reliability.md quotes its output.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent("""
    import signal, sys, time, warnings
    import numpy as np
    # A parent started in the background may hand down SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from fastnn import MLPClassifier
    solver, hidden, batch, n_features = sys.argv[1], eval(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, n_features), dtype=np.float32)
    y = rng.integers(0, 10, 20_000)
    est = MLPClassifier(hidden, solver=solver, batch_size=batch, max_iter=1000, tol=0,
                        n_iter_no_change=10**6, random_state=0,
                        callbacks=lambda info: print("epoch", time.monotonic(), flush=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    print("returned", time.monotonic(), est.n_iter_, flush=True)
""")

NETS = [("(100,)", 200, 100), ("(512, 512)", 256, 784)]


def latency(solver, hidden, batch, n_features, threads):
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, solver, hidden, str(batch),
                             str(n_features)], stdout=subprocess.PIPE, text=True, env=env)
    epochs = []
    for line in proc.stdout:
        word, *rest = line.split()
        if word == "epoch":
            epochs.append(float(rest[0]))
            if len(epochs) == 2:
                time.sleep((epochs[1] - epochs[0]) / 2)
                sent = time.monotonic()
                proc.send_signal(signal.SIGINT)
        elif word == "returned":
            proc.wait()
            return float(rest[0]) - sent, epochs[1] - epochs[0]
    raise RuntimeError(f"child exited with {proc.wait()}")


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print("| net | solver | threads | epoch (s) | stop latencies (ms) |")
    print("|---|---|---|---|---|")
    for hidden, batch, n_features in NETS:
        for solver in ("adam", "sgd", "lbfgs"):
            for threads in (None, 1):
                if solver == "lbfgs" and threads == 1:
                    continue  # its full-batch gradient splits no batch across threads
                runs = [latency(solver, hidden, batch, n_features, threads)
                        for _ in range(repeats)]
                times = ", ".join(f"{1e3 * r[0]:.0f}" for r in runs)
                epoch = sorted(r[1] for r in runs)[len(runs) // 2]
                print(f"| {hidden}, batch {batch}, 20k x {n_features} | {solver} | "
                      f"{threads or 'default (2)'} | {epoch:.2f} | {times} |", flush=True)


if __name__ == "__main__":
    main()
