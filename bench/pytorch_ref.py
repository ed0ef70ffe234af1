#!/usr/bin/python3
"""The PyTorch side of the benchmark: the seed model (Shared/Model/SeedNet.cs), the same data subset, global
batch, optimizer, schedule and augmentation as `train`, in one process or as DistributedDataParallel (gloo,
loopback). Prints one JSON line per epoch; the last epoch is the measured one, earlier ones are warm-up.

  /usr/bin/python3 bench/pytorch_ref.py --images 20480 --epochs 2 --threads 2
  /usr/bin/python3 bench/pytorch_ref.py --images 20480 --epochs 2 --ddp 2        # 2 processes x 1 thread, 64 images each

Needs Debian's python3-torch (`apt-get install python3-torch`); `/usr/bin/python3` is the interpreter that has it.
"""
import argparse
import gzip
import json
import math
import os
import socket
import sys
import time

TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296"
MEAN, STD = 0.1307, 0.3081


def ensure_tunables(args):
    # glibc reads its tunables only at start-up: re-execute once with them, as our own programs do.
    if args.no_tunables or "glibc.malloc.mmap_threshold" in os.environ.get("GLIBC_TUNABLES", ""):
        return
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = (env["GLIBC_TUNABLES"] + ":" if env.get("GLIBC_TUNABLES") else "") + TUNABLES
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def read_idx(path):
    opener = gzip.open if not os.path.exists(path) and os.path.exists(path + ".gz") else open
    with opener(path if opener is open else path + ".gz", "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(magic & 0xFF)]
    offset = 4 + 4 * len(dims)
    import torch
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8).reshape(dims)


def seed_net(torch):
    nn = torch.nn
    c = 16

    def block(cin):
        return [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(c),
                nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(c),
                nn.AvgPool2d(2), nn.Dropout(0.1)]

    return nn.Sequential(*block(1), *block(c), *block(c),
                         nn.Conv2d(c, 10, 1), nn.ReLU(), nn.Flatten(), nn.Linear(90, 10), nn.LogSoftmax(dim=1))


def inputs(torch, images_u8, augment, generator):
    """uint8 [N,1,28,28] -> normalised float, with one random affine warp per image when augmenting (as Augmentation.cs)."""
    x = images_u8.float().div_(255)
    if augment:
        n = x.shape[0]
        u = torch.rand(n, 3, generator=generator) * 2 - 1
        angle = u[:, 0] * (7 * math.pi / 180)
        tx, ty = 2 * 0.1 * u[:, 1], 2 * 0.1 * u[:, 2]
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        x = torch.nn.functional.grid_sample(x, grid, align_corners=False)
    return x.sub_(MEAN).div_(STD)


def evaluate(torch, model, images, labels, chunk):
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(labels), chunk):
            x = inputs(torch, images[start:start + chunk], False, None)
            y = labels[start:start + chunk].long()
            out = model(x)
            loss_sum += torch.nn.functional.nll_loss(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
    model.train()
    return loss_sum / len(labels), correct / len(labels)


def run(rank, args):
    import torch
    import torch.distributed as dist
    world = args.ddp or 1
    threads = 1 if args.ddp else args.threads
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    if args.ddp:
        if args.pin:
            os.sched_setaffinity(0, {rank % os.cpu_count()})
        dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(args.seed)
    train_x = read_idx(os.path.join(args.data, "train-images-idx3-ubyte"))[:args.images].unsqueeze(1).contiguous()
    train_y = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte"))[:args.images].contiguous()
    test_x = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte")).unsqueeze(1).contiguous()
    test_y = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte")).contiguous()

    model = seed_net(torch)
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    params = sum(p.numel() for p in model.parameters())
    assert params == 13032, f"the seed model has 13,032 parameters, this one {params}"
    trained = torch.nn.parallel.DistributedDataParallel(model) if args.ddp else model
    steps = math.ceil(args.images / args.batch)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.epochs * steps, pct_start=0.25)
    share = args.batch // world
    generator = torch.Generator().manual_seed(args.seed + 1000 * rank)
    model.train()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(args.images, generator=torch.Generator().manual_seed(args.seed * 1000 + epoch))
        if args.ddp:
            dist.barrier()
        started, cpu_started = time.perf_counter(), time.process_time()
        loss_sum = torch.zeros(())
        for step in range(steps):
            batch = order[step * args.batch:(step + 1) * args.batch][rank * share:(rank + 1) * share]
            x = inputs(torch, train_x[batch], args.augment, generator).contiguous(memory_format=layout)
            y = train_y[batch].long()
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.nll_loss(trained(x), y)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach()
        train_seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        if args.ddp:  # the CPU time of all ranks, as ours counts the coordinator's and every worker's
            total = torch.tensor([cpu_seconds], dtype=torch.float64)
            dist.all_reduce(total)
            cpu_seconds = total.item()
        if rank != 0:
            dist.barrier()
            continue
        started = time.perf_counter()
        test_loss, test_accuracy = evaluate(torch, model, test_x, test_y, args.eval_chunk)
        eval_seconds = time.perf_counter() - started
        print(json.dumps({
            "epoch": epoch, "images": args.images, "train_seconds": round(train_seconds, 4),
            "images_per_second": round(args.images / train_seconds, 1),
            "cpu_ms_per_step": round(1000 * cpu_seconds / steps, 3), "eval_seconds": round(eval_seconds, 4),
            "test_images": len(test_y), "train_loss": round(loss_sum.item() / steps, 4), "test_loss": round(test_loss, 4),
            "test_accuracy": test_accuracy, "processes": world, "threads": threads, "torch": torch.__version__,
            "tunables": "glibc.malloc.mmap_threshold" in os.environ.get("GLIBC_TUNABLES", ""),
        }), flush=True)
        if args.ddp:
            dist.barrier()
    if args.ddp:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist"))
    p.add_argument("--images", type=int, default=20480, help="train on the first N training images")
    p.add_argument("--epochs", type=int, default=2, help="epochs; all but the last are warm-up")
    p.add_argument("--batch", type=int, default=128, help="global batch")
    p.add_argument("--lr", type=float, default=0.1, help="one-cycle peak learning rate")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads (single process)")
    p.add_argument("--ddp", type=int, default=0, help="DistributedDataParallel over N processes of 1 thread (gloo, loopback)")
    p.add_argument("--pin", action="store_true", help="DDP: pin rank r to CPU r")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True, help="the same light augmentation as train")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--channels-last", action="store_true", help="model and inputs in channels-last (NHWC) memory format")
    p.add_argument("--eval-chunk", type=int, default=500)
    p.add_argument("--no-tunables", action="store_true", help="keep glibc's malloc defaults")
    args = p.parse_args()
    for name in ("images", "epochs", "batch", "threads", "eval_chunk"):
        if getattr(args, name) < 1:
            sys.exit(f"error: --{name.replace('_', '-')} must be at least 1")
    if args.ddp and args.batch % args.ddp:
        sys.exit(f"error: --batch {args.batch} is not divisible by --ddp {args.ddp}")
    if not os.path.isdir(args.data):
        sys.exit(f"error: --data {args.data}: no such directory (run deploy/get-mnist.sh)")
    ensure_tunables(args)
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("error: PyTorch is missing: apt-get install python3-torch (then use /usr/bin/python3)")
    if not args.ddp:
        run(0, args)
        return
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(free_port())
    import torch.multiprocessing as mp
    mp.spawn(run, args=(args,), nprocs=args.ddp, join=True)


if __name__ == "__main__":
    main()
