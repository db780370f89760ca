"""A tiny PyTorch-style training loop: fits y = 3x + 2 with gradient descent.

Uses PyTorch (and the GPU) when it is installed; otherwise the same loop in plain Python,
so it runs anywhere. Prints a live progress bar (carriage returns) and one loss line per epoch,
then writes checkpoints/model.json.

    python train.py [--epochs 5] [--steps 40] [--lr 0.05] [--delay 0.02]
"""
import argparse
import json
import math
import os
import random
import sys
import time

try:
    import torch  # type: ignore
except ImportError:  # plain Python fallback
    torch = None


def batches(steps, batch_size, rng):
    for _ in range(steps):
        xs = [rng.uniform(-1.0, 1.0) for _ in range(batch_size)]
        ys = [3.0 * x + 2.0 + rng.gauss(0.0, 0.05) for x in xs]
        yield xs, ys


def train_python(args, rng):
    w, b = 0.0, 0.0
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for step, (xs, ys) in enumerate(batches(args.steps, args.batch_size, rng), 1):
            preds = [w * x + b for x in xs]
            errs = [p - y for p, y in zip(preds, ys)]
            loss = sum(e * e for e in errs) / len(errs)
            w -= args.lr * 2.0 * sum(e * x for e, x in zip(errs, xs)) / len(xs)
            b -= args.lr * 2.0 * sum(errs) / len(errs)
            total += loss
            progress(epoch, args, step, loss)
        end_epoch(epoch, args, total / args.steps)
    return {"w": w, "b": b}


def train_torch(args, rng):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {device}" + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else ""), flush=True)
    model = torch.nn.Linear(1, 1).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for step, (xs, ys) in enumerate(batches(args.steps, args.batch_size, rng), 1):
            x = torch.tensor(xs, device=device).unsqueeze(1)
            y = torch.tensor(ys, device=device).unsqueeze(1)
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            progress(epoch, args, step, loss.item())
        end_epoch(epoch, args, total / args.steps)
    return {"w": model.weight.item(), "b": model.bias.item()}


def progress(epoch, args, step, loss):
    done = int(20 * step / args.steps)
    sys.stdout.write(f"\repoch {epoch}/{args.epochs} [{'#' * done}{'.' * (20 - done)}] {step}/{args.steps} loss {loss:.4f}")
    sys.stdout.flush()
    time.sleep(args.delay)


def end_epoch(epoch, args, mean_loss):
    sys.stdout.write(f"\repoch {epoch}/{args.epochs} loss {mean_loss:.5f}{' ' * 30}\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds per step (to watch the progress)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    print(f"training y = 3x + 2 with {'PyTorch ' + torch.__version__ if torch else 'plain Python (PyTorch not installed)'}", flush=True)
    started = time.time()
    params = train_torch(args, rng) if torch else train_python(args, rng)
    os.makedirs("checkpoints", exist_ok=True)
    with open(os.path.join("checkpoints", "model.json"), "w") as f:
        json.dump(params, f, indent=2)
    ok = math.isclose(params["w"], 3.0, abs_tol=0.2) and math.isclose(params["b"], 2.0, abs_tol=0.2)
    print(f"done in {time.time() - started:.1f}s: w={params['w']:.3f} b={params['b']:.3f} -> checkpoints/model.json", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
