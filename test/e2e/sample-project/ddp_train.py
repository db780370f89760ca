"""The same small MLP as train.py, trained on every GPU of a pod with DistributedDataParallel:
one process per GPU, each on its own shard of the data, gradients averaged across them.

    torchrun --standalone --nproc_per_node=2 ddp_train.py [--epochs 3] [--steps 20] [--bs 32] [--lr 0.05]

Uses NCCL on CUDA GPUs and gloo on the CPU (where there is no CUDA, as in the kgpu simulator).
Rank 0 prints the progress and the metrics ({"metric": "loss", "value": ...}) and saves
checkpoints/ddp.pt; every rank prints one line at the end with a checksum of its weights (DDP keeps
them identical). Run without torchrun, it trains as a single process.
"""
import argparse
import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def say(text):
    """One write per line: the ranks share the launcher's output."""
    os.write(1, (text + "\n").encode())


def single_process_defaults():
    """Without torchrun: a world of one, rendezvous on a free local port."""
    if "RANK" in os.environ:
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="batches per epoch and process")
    parser.add_argument("--bs", "--batch-size", dest="bs", type=int, default=32, help="batch size per process")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=".", help="folder for checkpoints/")
    args = parser.parse_args()

    single_process_defaults()
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ["LOCAL_RANK"])
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if rank == 0:
        say(f"DDP: {world} processes, backend {dist.get_backend()}, PyTorch {torch.__version__}, device {device.type}")

    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    gen = torch.Generator().manual_seed(args.seed)
    n = args.steps * args.bs * world
    x = torch.rand(n, 1, generator=gen) * 2 - 1
    y = 3 * x + 2 + 0.05 * torch.randn(n, 1, generator=gen)
    data = torch.utils.data.TensorDataset(x, y)
    sampler = torch.utils.data.distributed.DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = torch.utils.data.DataLoader(data, batch_size=args.bs, sampler=sampler, drop_last=True)

    model = torch.nn.Sequential(
        torch.nn.Linear(1, 32), torch.nn.Tanh(),
        torch.nn.Linear(32, 32), torch.nn.Tanh(),
        torch.nn.Linear(32, 1),
    ).to(device)
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if cuda else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9)

    started = time.time()
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)
        total = torch.zeros(1, device=device)
        for i, (xb, yb) in enumerate(loader, 1):
            loss = torch.nn.functional.mse_loss(ddp(xb.to(device)), yb.to(device))
            opt.zero_grad()
            loss.backward()  # DDP averages the gradients of every rank here
            opt.step()
            total += loss.detach()
            if rank == 0:
                sys.stdout.write(f"\repoch {epoch}/{args.epochs} step {i}/{len(loader)} loss {loss.item():.4f}")
                sys.stdout.flush()
        dist.all_reduce(total)  # the mean loss over every rank's batches
        mean = total.item() / (len(loader) * world)
        if rank == 0:
            sys.stdout.write(f"\repoch {epoch}/{args.epochs} loss {mean:.5f}{' ' * 30}\n")
            say(json.dumps({"metric": "loss", "value": round(mean, 6)}))

    if rank == 0:
        os.makedirs(os.path.join(args.out, "checkpoints"), exist_ok=True)
        torch.save(model.state_dict(), os.path.join(args.out, "checkpoints", "ddp.pt"))
    dist.barrier()  # rank 0 has ended its progress line: the other ranks' lines start on their own
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    say(f"rank {rank}/{world} done in {time.time() - started:.1f}s, weights checksum {checksum:.6f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
