"""Plots a training run's loss in the terminal: the metrics.jsonl train.py writes, as a sparkline
(tinyplot), smoothed with kgpu-demo-utils — both from requirements.txt, not from the image.

    python plot_metrics.py [METRICS] [--smooth 5]    (default: the metrics.jsonl beside with-deps/)
"""
import argparse
import json
import os

import tinyplot
from kgpu_demo_utils import moving_average


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Run Active File runs it from the synced folder, a terminal from with-deps/: the same default.
    default = os.path.relpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "metrics.jsonl"))
    parser.add_argument("metrics", nargs="?", default=default)
    parser.add_argument("--smooth", type=int, default=5)
    parser.add_argument("--width", type=int, default=60, help="at most this many characters")
    args = parser.parse_args()

    with open(args.metrics) as f:
        losses = [json.loads(line)["loss"] for line in f if line.strip()]
    if not losses:
        raise SystemExit(f"{args.metrics} has no loss values yet")
    every = max(1, -(-len(losses) // args.width))
    smooth = moving_average(losses, args.smooth)
    print(f"loss over {len(losses)} steps: {tinyplot.sparkline(smooth[::every])}")
    print(f"first {smooth[0]:.4f}, last {smooth[-1]:.4f} (mean of {args.smooth})")


if __name__ == "__main__":
    main()
