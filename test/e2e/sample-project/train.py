"""A tiny PyTorch-style training loop, in real PyTorch: a small MLP learns y = 3x + 2 from noisy
synthetic data, on the GPU when there is one (else the CPU; a few seconds either way).

Prints a tqdm-style progress bar (carriage returns), one loss line per epoch and the epoch's
metrics as JSON lines ({"metric": "loss", "value": ...}); writes {"step": ..., "loss": ...} lines to
metrics.jsonl, saves checkpoints/last.pt every epoch and checkpoints/model.json at the end.

    python train.py [--epochs 5] [--steps 40] [--bs 32] [--lr 0.05] [--delay 0.02] [--out .]
    torchrun --standalone --nproc_per_node=2 ddp_train.py    # all GPUs of a pod: ddp_train.py
"""
import argparse
import json
import math
import os
import sys
import time

import torch


def make_data(n, generator):
    x = torch.rand(n, 1, generator=generator) * 2 - 1
    y = 3 * x + 2 + 0.05 * torch.randn(n, 1, generator=generator)
    return torch.utils.data.TensorDataset(x, y)


def make_model(hidden=32):
    return torch.nn.Sequential(
        torch.nn.Linear(1, hidden), torch.nn.Tanh(),
        torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
        torch.nn.Linear(hidden, 1),
    )


def train(args):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    train_set = make_data(args.steps * args.bs, gen)
    val_x, val_y = (t.to(device) for t in make_data(256, gen).tensors)
    loader = torch.utils.data.DataLoader(train_set, batch_size=args.bs, shuffle=True, drop_last=True, generator=gen)
    model = make_model().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    print(f"training y = 3x + 2 with a small MLP (PyTorch {torch.__version__}) on {device}"
          + (f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else "")
          + f": {args.epochs} epochs x {len(loader)} steps, batch {args.bs}, lr {args.lr}", flush=True)
    os.makedirs(os.path.join(args.out, "checkpoints"), exist_ok=True)
    step = 0
    with open(os.path.join(args.out, "metrics.jsonl"), "w") as metrics:
        for epoch in range(1, args.epochs + 1):
            model.train()
            total, started = 0.0, time.time()
            for i, (x, y) in enumerate(loader, 1):
                loss = torch.nn.functional.mse_loss(model(x.to(device)), y.to(device))
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                step += 1
                total += loss.item()
                metrics.write(json.dumps({"step": step, "loss": round(loss.item(), 6)}) + "\n")
                progress(f"epoch {epoch}/{args.epochs}", i, len(loader), started, loss.item())
                time.sleep(args.delay)
            metrics.flush()
            model.eval()
            with torch.no_grad():
                val = torch.nn.functional.mse_loss(model(val_x), val_y).item()
            mean = total / len(loader)
            sys.stdout.write(f"\repoch {epoch}/{args.epochs} loss {mean:.5f} val_loss {val:.5f}{' ' * 40}\n")
            metric("loss", mean)
            metric("val_loss", val)
            if not math.isfinite(mean):
                sys.exit(f"the loss diverged in epoch {epoch} (lr {args.lr} is too high?)")
            torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict()}, os.path.join(args.out, "checkpoints", "last.pt"))
    return fitted_line(model, device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40, help="batches per epoch")
    parser.add_argument("--bs", "--batch-size", dest="bs", type=int, default=32, help="batch size")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate (SGD, momentum 0.9)")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds to wait after each step (to watch the progress)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=".", help="folder for checkpoints/ and metrics.jsonl")
    args = parser.parse_args()

    started = time.time()
    line = train(args)
    with open(os.path.join(args.out, "checkpoints", "model.json"), "w") as f:
        json.dump(line, f, indent=2)
    print(f"done in {time.time() - started:.1f}s: w={line['w']:.3f} b={line['b']:.3f} -> checkpoints/model.json", flush=True)


def progress(desc, done, total, started, loss):
    """One tqdm-style line, redrawn in place: `desc:  45%|████▌     | 18/40 [00:01<00:01, 21.3it/s, loss=0.12]`."""
    elapsed = time.time() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 else 0.0
    eighths = int(10 * 8 * done / total)
    bar = "█" * (eighths // 8) + ("▏▎▍▌▋▊▉"[eighths % 8 - 1] if eighths % 8 else "")
    clock = lambda s: "%02d:%02d" % divmod(int(s), 60)
    sys.stdout.write(f"\r{desc}: {100 * done // total:3d}%|{bar:<10}| {done}/{total} [{clock(elapsed)}<{clock(left)}, {rate:.1f}it/s, loss={loss:.4f}]")
    sys.stdout.flush()


def metric(name, value):
    print(json.dumps({"metric": name, "value": round(value, 6)}), flush=True)


def fitted_line(model, device):
    """The line the model learnt: its value at 0 (b) and its rise from 0 to 1 (w)."""
    with torch.no_grad():
        b = model(torch.zeros(1, 1, device=device)).item()
        w = model(torch.ones(1, 1, device=device)).item() - b
    return {"w": w, "b": b}


if __name__ == "__main__":
    main()
