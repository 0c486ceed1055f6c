"""F.cross_entropy against a kept log-softmax turned into the gradient in place, [100, 43,097].

python benchmarks/cross_entropy_variants.py THREADS REPS
"""

import statistics
import sys
import time

import torch
from torch.nn import functional as F

torch.set_num_threads(int(sys.argv[1]))
B, N = 100, 43097
g = torch.Generator().manual_seed(0)
base = torch.randn(B, N, generator=g) * 3
t = torch.randint(0, N, (B,), generator=g)


class InPlace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, targets):
        logp = torch.log_softmax(scores, 1)
        ctx.save_for_backward(logp, targets)
        return -logp.gather(1, targets[:, None]).mean()

    @staticmethod
    def backward(ctx, grad):
        logp, targets = ctx.saved_tensors
        out = logp.exp_()
        out[torch.arange(len(targets)), targets] -= 1.0
        return out.mul_(grad / len(targets)), None


def ref():
    s = base.clone().requires_grad_()
    F.cross_entropy(s, t).backward()
    return s.grad


def inplace():
    s = base.clone().requires_grad_()
    InPlace.apply(s, t).backward()
    return s.grad


variants = {"F.cross_entropy": ref, "log_softmax kept, exp_/mul_ in place": inplace}
r, i = ref(), inplace()
print("max diff", (r - i).abs().max().item(), "equal", torch.equal(r, i))
times = {k: [] for k in variants}
clone = []
for _ in range(int(sys.argv[2])):
    for k, f in variants.items():
        t0 = time.perf_counter()
        f()
        times[k].append((time.perf_counter() - t0) * 1e3)
    t0 = time.perf_counter()
    base.clone()
    clone.append((time.perf_counter() - t0) * 1e3)
for k, v in times.items():
    print(f"{k}: {statistics.median(v):.2f} ms")
print(f"clone (included in each): {statistics.median(clone):.2f} ms")
