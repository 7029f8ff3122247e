"""The engine benchmark's reference network and workloads in PyTorch, on the same machine.

The engine issue's targets are fractions of PyTorch's CPU speed; this measures PyTorch here so
the ratio comes from one machine. Same network as `bench:engine --stem-stride 1` (conv3x3 stem
32 + BN + ReLU + maxpool, basic blocks 32/64/128/256 at strides 1/2/2/2, GAP, dense 128), same
SimCLR step (16 images x 2 views, two-layer projection head, NT-Xent at 0.5, Adam) and batch-32
inference, median of 5 timed steps after 2 warm-ups. Prints one JSON object on its last line.

Not part of the product or of CI (Debian: `apt-get install python3-torch`):
    /usr/bin/python3 bench/pytorch-reference.py [--threads 2] [--sizes 64,128]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


class Encoder(nn.Module):
    def __init__(self, widths=(32, 32, 64, 128, 256), embedding=128):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1))
        strides = (1, 2, 2, 2)
        self.stages = nn.Sequential(
            *[Block(widths[i], widths[i + 1], strides[i]) for i in range(4)])
        self.embedding = nn.Linear(widths[4], embedding)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.embedding(x.mean((2, 3)))


def nt_xent(z1, z2, temperature=0.5):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float('-inf'))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, targets)


def median_seconds(fn, warmup=2, timed=5):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(timed):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--sizes', default='64,128')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    results = []
    for size in [int(s) for s in args.sizes.split(',')]:
        encoder = Encoder().to(memory_format=torch.channels_last)
        head = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 128))
        optimizer = torch.optim.Adam(list(encoder.parameters()) + list(head.parameters()), 1e-3)
        views = torch.rand(32, 3, size, size).to(memory_format=torch.channels_last)
        images = torch.rand(32, 3, size, size).to(memory_format=torch.channels_last)

        def train_step():
            encoder.train()
            optimizer.zero_grad()
            z = head(encoder(views))
            loss = nt_xent(z[:16], z[16:])
            loss.backward()
            optimizer.step()

        def infer_step():
            encoder.eval()
            with torch.no_grad():
                encoder(images)

        train_s = median_seconds(train_step)
        infer_s = median_seconds(infer_step)
        results.append({'model': 'encoder', 'size': size, 'train_img_s': round(32 / train_s, 1),
                        'infer_img_s': round(32 / infer_s, 1)})
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps({'engine': f'pytorch {torch.__version__}', 'threads': args.threads,
                      'results': results}))


if __name__ == '__main__':
    main()
