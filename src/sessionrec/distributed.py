"""Data-parallel training over several processes or machines (``torch.distributed``).

A distributed run is launched by torchrun (``sessionrec train ... --nproc N`` calls
``torch.distributed.run`` itself; a user's own ``torchrun`` across machines works the
same), which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address.
:func:`init_from_env` then joins the process group: gloo on CPU, NCCL on GPUs (one GPU
per rank, ``cuda:LOCAL_RANK``). Without those variables every function here is the
single-process identity, so the trainer runs exactly as before.

The semantics, chosen so that a distributed run is the single-process run computed
on several workers:

* **Batches.** The global batch size stays the config's ``batch_size`` and the learning
  rate its ``lr``. Every rank draws the same seeded permutation of the epoch (a function
  of (seed, epoch)), cuts it into the same global batches, and keeps the slice
  ``batch[rank::world]`` of each (:func:`shard_batches`). Its loss is multiplied by
  ``world * n_local / n_global``, so the gradients DDP averages over ranks are those of
  the mean loss over the global batch, also for a last batch that does not divide
  evenly. A rank left with no sample (a global batch smaller than the world) trains on
  one copied sample with weight 0, so every rank still joins the all-reduce.
* **Loss and speed.** Each batch's loss is averaged over ranks (:func:`global_loss`), so
  every rank records the global loss; samples/s counts the global batch.
* **Evaluation** (:func:`evaluate_scores`, :func:`evaluate_model`): the batches of the
  single-process evaluation (same order by prefix length, same batch size) are dealt
  round-robin to the ranks, and each sample's counts of items scored above and tied
  with its target are summed over ranks. Every batch is scored exactly as one process
  scores it, so the metrics equal a single-process evaluation bit for bit.
* **Every model.** Scores, a model's own objective (FPMC, BPR-MF: ``training_loss``) and
  ``extra_loss`` terms all reach DDP's gradient all-reduce (:func:`wrap`); an epoch hook
  (LGSR's skip-gram passes) runs on every rank, then rank 0's parameters are broadcast;
  a memory written while training (CSRM) gathers the whole global batch on every rank
  (:func:`gather_rows`). A test trains every registered neural model on 2 ranks and finds
  the same weights on both.
* **Writes.** Only rank 0 writes (run directory, metrics, checkpoints, the prepared
  structures, the saved model), each write atomic; the other ranks hold a
  :class:`ReaderRun` whose writes are no-ops. Each rank runs ``prepare`` itself (it is
  deterministic, so every rank holds the same structures without a file exchange).
* **Resume.** Every rank reads the checkpoint rank 0 wrote; across machines the run
  directory must therefore be on storage every machine sees. Dropout masks are seeded
  per (seed, epoch) on every rank; a resumed mid-epoch checkpoint restores rank 0's
  random state on all ranks, so dropout there differs from the uninterrupted run.
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from sessionrec.data.batching import Batch, BatchSpec, iterate_batches, make_batch
from sessionrec.data.sessions import Split
from sessionrec.evaluation import DEFAULT_TIES, Evaluation, TieMode, count_above_and_tied
from sessionrec.evaluation import evaluate_scores as _evaluate_locally
from sessionrec.runs import Run


def launched() -> bool:
    """Whether this process was started by torchrun for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether a process group with more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_writer() -> bool:
    """Whether this process writes the run (rank 0, or the only process)."""
    return rank() == 0


def rank_device(device: str | None) -> str | None:
    """This rank's device: ``cuda:LOCAL_RANK`` when the run uses CUDA, else ``device``."""
    if not launched():
        return device
    wants_cuda = (device is None and torch.cuda.is_available()) or (device or "").startswith("cuda")
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if wants_cuda else (device or "cpu")


def init_from_env(device: str | None) -> None:
    """Join the process group torchrun describes (NCCL for CUDA, gloo otherwise)."""
    if not launched() or dist.is_initialized():
        return
    cuda = (device or "").startswith("cuda")
    if cuda:
        torch.cuda.set_device(torch.device(device or "cuda"))
    dist.init_process_group("nccl" if cuda else "gloo")


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


@dataclass(frozen=True)
class ReaderRun(Run):
    """A run directory as a rank other than 0 sees it: it reads, and never writes."""

    def write_info(self, info: dict[str, Any]) -> None:
        pass

    def append_metrics(self, record: dict[str, Any]) -> None:
        pass


def open_run(start: Callable[[], Run]) -> Run:
    """Rank 0 creates (or reopens) the run with ``start``; the others then read it."""
    run = start() if is_writer() else None
    if not active():
        assert run is not None
        return run
    shared = [str(run.directory) if run is not None else None]
    dist.broadcast_object_list(shared, src=0)
    return run if run is not None else ReaderRun(Path(shared[0]))


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """The module DDP-wrapped for training when distributed, else itself.

    DDP averages gradients only of what runs through its ``forward``, so the module is
    wrapped in :class:`_Objective`, whose forward is the module's scores or, for a module
    with its own objective (``training_loss``), that loss. Buffers are not broadcast: the
    fixed ones (graphs, samplers) are built identically on every rank by ``prepare``, and a
    buffer a model writes while training (CSRM's memory) gathers the global batch itself
    (:func:`gather_rows`). The graph is declared static: the parameters a step uses are the
    same every step, and those it never uses (LGSR's skip-gram output table, trained in its
    epoch hook) are then allowed.
    """
    if not active():
        return module
    if module not in _WRAPPED:  # one wrapper per module for the whole run
        wrapper = _OwnLossParallel if callable(getattr(module, "training_loss", None)) else _DataParallel
        with warnings.catch_warnings():
            # torch deprecates broadcast_buffers for forward_sync_buffers, which still syncs
            # buffers at init, and sparse CSR buffers cannot be broadcast: keep the old switch
            warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
            _WRAPPED[module] = wrapper(_Objective(module), broadcast_buffers=False, static_graph=True)
    return _WRAPPED[module]


_WRAPPED: weakref.WeakKeyDictionary[nn.Module, nn.Module] = weakref.WeakKeyDictionary()


class _Objective(nn.Module):
    """What DDP runs: the model's scores, or its own training loss when asked."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, batch: Batch, own_loss: bool = False) -> torch.Tensor:
        return self.inner.training_loss(batch) if own_loss else self.inner(batch)  # type: ignore[operator]


class _DataParallel(nn.parallel.DistributedDataParallel):
    """DDP that lets the trainer reach the wrapped module's attributes (``extra_loss``, ...)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":  # not set yet (inside DDP's constructor)
                raise
            return getattr(self.module.inner, name)


class _OwnLossParallel(_DataParallel):
    """DDP for a module trained on its own objective: ``training_loss`` runs through DDP."""

    def training_loss(self, batch: Batch) -> torch.Tensor:
        return self(batch, own_loss=True)


def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """Every rank's ``rows`` [n_r, ...] concatenated in rank order, the same on every rank.

    In one process, ``rows`` itself. The ranks may hold different numbers of rows (the
    last global batch); no gradient flows through the result.
    """
    if not active():
        return rows
    world = world_size()
    count = torch.tensor([rows.shape[0]], dtype=torch.int64, device=rows.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    most = int(max(c.item() for c in counts))
    padded = rows.new_zeros((most, *rows.shape[1:]))
    padded[: rows.shape[0]] = rows.detach()
    gathered = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[: int(c.item())] for g, c in zip(gathered, counts, strict=True)])


def broadcast_parameters(module: nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (after work a rank did on its own)."""
    if not active():
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.layout == torch.strided:
                dist.broadcast(tensor.data, src=0)


def shard_batches(
    split: Split,
    batch_size: int,
    spec: BatchSpec,
    shuffle: bool,
    seed: int,
    epoch: int,
    start_batch: int = 0,
) -> Iterator[tuple[Batch, float, int]]:
    """``(batch, loss_weight, global_batch_size)`` of this rank, for every global batch."""
    if not active():
        for batch in iterate_batches(split, batch_size, spec, shuffle, seed, epoch, start_batch):
            yield batch, 1.0, batch.size
        return
    me, world = rank(), world_size()
    order = np.arange(len(split))
    if shuffle:  # the same permutation as iterate_batches draws
        order = np.random.default_rng([seed, epoch]).permutation(len(split))
    for start in range(start_batch * batch_size, len(order), batch_size):
        chunk = order[start : start + batch_size]
        mine = chunk[me::world]
        weight = world * len(mine) / len(chunk)
        if len(mine) == 0:
            mine, weight = chunk[:1], 0.0
        yield make_batch(split, mine, spec), weight, len(chunk)


def global_loss(loss: torch.Tensor) -> torch.Tensor:
    """The (weighted) per-rank losses averaged over ranks: the global batch's loss."""
    if not active():
        return loss
    reduced = loss.detach().clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / world_size()


def evaluate_scores(
    score: Callable[[object], torch.Tensor],
    split: Split,
    spec: BatchSpec,
    batch_size: int = 500,
    ties: TieMode = DEFAULT_TIES,
    device: torch.device | str = "cpu",
) -> Evaluation:
    """``evaluation.evaluate_scores`` with its batches dealt round-robin over the ranks."""
    if not active():
        return _evaluate_locally(score, split, spec, batch_size, ties, device)
    me, world = rank(), world_size()
    counts = torch.zeros(2, len(split), dtype=torch.int64)
    order = np.argsort(split.prefix_lengths, kind="stable")  # as evaluate_scores batches
    with torch.inference_mode():
        for index, start in enumerate(range(0, len(order), batch_size)):
            if index % world != me:
                continue
            samples = order[start : start + batch_size]
            batch = make_batch(split, samples, spec).to(device)
            assert batch.targets is not None
            above, tied = count_above_and_tied(score(batch).float(), batch.targets)
            index_ = torch.from_numpy(samples)
            counts[0, index_], counts[1, index_] = torch.from_numpy(above), torch.from_numpy(tied)
    on_device = counts.to(device) if dist.get_backend() == "nccl" else counts
    dist.all_reduce(on_device, op=dist.ReduceOp.SUM)  # each sample counted on one rank only
    counts = on_device.cpu().numpy()
    return Evaluation(counts[0], counts[1], split.prefix_lengths.astype(np.int64), ties)


def evaluate_model(
    model: Any, split: Split, batch_size: int = 500, ties: TieMode = DEFAULT_TIES
) -> Evaluation:
    """``model.evaluate(split)``, sharded over the ranks when distributed."""
    if not active():
        return model.evaluate(split, batch_size, ties)
    return evaluate_scores(model.score, split, model.batch_spec, batch_size, ties, model.device)
