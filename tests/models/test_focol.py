"""FOCOL: the shared contract (via CONTRACT), contrastive sampling, augmentations and the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from sessionrec.data.batching import BatchSpec, batch_from_lists, make_batch
from sessionrec.graphs.targets import samples_by_target
from sessionrec.models.focol import FOCOL, FOCOLModule
from sessionrec.models.registry import create
from sessionrec.nn.augment import MASK_ID, corrupt, drop, insert_mask
from sessionrec.nn.contrastive import info_nce
from sessionrec.nn.session_sampler import ContrastiveSampler
from sessionrec.training import Trainer
from tests.conftest import synthetic_dataset, tiny_split

FAST = {"embedding_dim": 32, "batch_size": 32, "epochs": 6, "lr": 0.01, "max_distance": 3, "patience": 10}
CONTRACT = {"focol": {"overrides": FAST, "pattern_metric": "HR@5", "pattern_threshold": 80.0}}

# samples (prefix -> next): [1, 2] -> 3, [1] -> 2, [2] -> 3, [5] -> 3, [3, 4] -> 1, [3] -> 4, [4] -> 2
SPLIT = tiny_split([[1, 2, 3], [2, 3], [5, 3], [3, 4, 1], [4, 2]], n_items=5)


def sampler_for(split: object) -> ContrastiveSampler:
    arrays = samples_by_target(split)  # type: ignore[arg-type]
    return ContrastiveSampler({f"positives_{k}": v for k, v in arrays.items()})


def prefixes_of(split: object) -> set[tuple[tuple[int, ...], int]]:
    """(prefix, next item) of every training sample."""
    return {
        (tuple(split.prefix(i).tolist()), int(split.targets[i]))  # type: ignore[attr-defined]
        for i in range(len(split))  # type: ignore[arg-type]
    }


def test_positives_share_the_next_item_and_negatives_do_not() -> None:
    sampler, known = sampler_for(SPLIT), prefixes_of(SPLIT)
    targets = torch.tensor([3, 3, 2, 4, 1, 2])
    torch.manual_seed(0)
    for _ in range(20):
        drawn = sampler.draw(targets, negatives=4)
        assert torch.equal(drawn.labels[drawn.positive], targets)  # same next item
        for row in range(len(drawn.lengths)):  # every pooled session is a real training prefix
            prefix = tuple(drawn.items[row, : drawn.lengths[row]].tolist())
            assert (prefix, int(drawn.labels[row])) in known
            assert drawn.items[row, drawn.lengths[row] :].eq(0).all()
        for i in range(len(targets)):
            chosen = drawn.negatives[i][drawn.valid[i]]
            assert (drawn.labels[chosen] != targets[i]).all()  # negatives: another next item
            assert len(set(chosen.tolist())) == len(chosen)  # without replacement
            eligible = int((drawn.labels != targets[i]).sum())
            assert int(drawn.valid[i].sum()) == min(4, eligible)  # every qualifying slot is used
    assert drawn.has_positive.all()


def test_small_batches_add_random_prefixes_and_unseen_targets_have_no_positive() -> None:
    sampler = sampler_for(SPLIT)
    torch.manual_seed(0)
    drawn = sampler.draw(torch.tensor([3, 5]), negatives=6)  # 5 is never a next item
    assert len(drawn.lengths) == 2 + 5  # 1 other positive, 5 random prefixes
    assert drawn.has_positive.tolist() == [True, False]
    assert not drawn.valid[0][drawn.negatives[0] == 1].any()  # a row without positive is no negative


def test_insert_keeps_the_sequence_and_adds_one_mask_token() -> None:
    items = torch.tensor([[4, 5, 6, 0], [7, 8, 0, 0], [9, 0, 0, 0]])
    lengths = torch.tensor([3, 2, 1])
    rows = torch.tensor([True, True, False])
    torch.manual_seed(0)
    seen_slots = set()
    for _ in range(30):
        out, new_lengths = insert_mask(items, lengths, rows)
        assert out.shape == (3, 5) and new_lengths.tolist() == [4, 3, 1]
        for r in range(3):
            row = out[r, : new_lengths[r]].tolist()
            if rows[r]:
                slot = row.index(MASK_ID)
                seen_slots.add((r, slot))
                row.pop(slot)
            assert row == items[r, : lengths[r]].tolist()  # the items and their order are intact
            assert out[r, new_lengths[r] :].eq(0).all()
    assert {s for r, s in seen_slots if r == 0} == {0, 1, 2, 3}  # any slot, the end included


def test_no_augmentation_changes_the_label() -> None:
    data = synthetic_dataset()
    batch = make_batch(data.train, np.arange(40), BatchSpec())
    for op in ("corrupt", "dropout", "insert", "identity"):
        only = {f"augment_{a}": a == op for a in ("corrupt", "dropout", "insert", "identity")}
        model = create("focol", **{**FAST, **only})
        module = model.setup(data.train)
        module.train()
        drawn = module.sampler.draw(batch.targets, model.config.cl_negatives)
        assert torch.equal(drawn.labels[drawn.positive], batch.targets)
        ops = module._draw_augmentations(len(drawn.lengths), batch.items.device)
        assert ops[op].all() and sum(int(v.any()) for v in ops.values()) == 1
        items, lengths = insert_mask(drawn.items, drawn.lengths, ops["insert"])
        if op == "insert":
            assert torch.equal(lengths, drawn.lengths + 1)
        for r in range(len(lengths)):  # with mask tokens removed, the same prefix (hence next item)
            kept = [i for i in items[r, : lengths[r]].tolist() if i != MASK_ID]
            assert kept == drawn.items[r, : drawn.lengths[r]].tolist()
    embeddings = torch.randn(3, 4, 2)
    rows = torch.tensor([True, False, True])
    assert torch.equal(corrupt(embeddings, rows, 0.0), embeddings)
    assert torch.equal(drop(embeddings, rows, 0.5)[1], embeddings[1])  # unflagged rows untouched
    assert torch.equal(corrupt(embeddings, rows, 0.1)[1], embeddings[1])


def test_focol_ncl_loss_has_no_contrastive_term() -> None:
    data = synthetic_dataset()
    batch = make_batch(data.train, np.arange(32), BatchSpec())
    losses = {}
    for name in ("focol-ncl", "focol"):
        model = create(name, **FAST)
        module = model.setup(data.train)
        module.train()
        scores = module(batch)
        plain = F.cross_entropy(scores, batch.targets - 1)
        losses[name] = (Trainer(model).loss(module, batch, scores), plain)
        if name == "focol-ncl":
            assert module.sampler is None and module.extra_loss() == 0.0
    ncl, ncl_plain = losses["focol-ncl"]
    assert torch.equal(ncl, ncl_plain)
    full, full_plain = losses["focol"]
    assert full > full_plain  # beta L_cl > 0 is added


def test_info_nce_matches_its_formula() -> None:
    torch.manual_seed(0)
    anchors, pool = torch.randn(2, 3), torch.randn(4, 3)
    positive, negatives = torch.tensor([0, 1]), torch.tensor([[1, 2], [3, 0]])
    valid = torch.tensor([[True, True], [True, False]])
    cos = F.normalize(anchors, dim=1) @ F.normalize(pool, dim=1).T / 0.5
    first = -torch.log_softmax(cos[0, [0, 1, 2]], 0)[0]
    second = -torch.log_softmax(cos[1, [1, 3]], 0)[0]  # the invalid slot is left out
    got = info_nce(anchors, pool, positive, negatives, valid, "cosine", 0.5)
    torch.testing.assert_close(got, (first + second) / 2)
    dot = anchors @ pool.T
    expected = -torch.log_softmax(dot[0, [0, 1, 2]], 0)[0]
    mask = torch.tensor([True, False])
    torch.testing.assert_close(
        info_nce(anchors, pool, positive, negatives, valid, "dot", 1.0, mask), expected
    )


def test_global_table_is_cached_in_eval_and_equals_a_fresh_computation() -> None:
    data = synthetic_dataset()
    model = create("focol", **{**FAST, "epochs": 1}).fit(data.train)
    module = model.module_
    assert isinstance(module, FOCOLModule)
    batch = batch_from_lists([[3, 4, 5], [7]], BatchSpec())
    with torch.no_grad():
        first = module(batch)
        cached = module._table
        assert cached is not None and module(batch) is not None and module._table is cached
        module.drop_item_columns()
        torch.testing.assert_close(module(batch), first)
    module.train()
    assert module._table is None


@pytest.mark.parametrize("name", ["focol-ng", "focol-sg", "focol-paper", "focol-lt2"])
def test_variants_build_the_component_they_change(name: str) -> None:
    data = synthetic_dataset()
    model = create(name, **{**FAST, "embedding_dim": 8})
    module = model.setup(data.train)
    assert isinstance(module, FOCOLModule)
    if name == "focol-ng":
        assert module.fogcn is None and "fog" not in model.prepared_
    elif name == "focol-sg":
        assert module.fogcn is not None and module.graph is not None and module.graph.n_buckets == 2
        assert not any(p.requires_grad for p in module.fogcn.parameters())
    elif name == "focol-lt2":
        assert len(module.encoder.encoder.layers) == 2
    module.train()
    scores = module(make_batch(data.train, np.arange(16), BatchSpec()))
    loss = F.cross_entropy(scores, make_batch(data.train, np.arange(16), BatchSpec()).targets - 1)
    (loss + module.extra_loss()).backward()
    assert module.embedding.weight.grad is not None and torch.isfinite(module.embedding.weight.grad).all()


def test_distance_importance_exports_one_distribution_per_feature() -> None:
    data = synthetic_dataset()
    model = create("focol", **{**FAST, "epochs": 1, "gnn_layers": 1})
    model.fit(data.train)
    assert isinstance(model, FOCOL)
    exported = model.distance_importance()
    assert exported["labels"] == ["+1", "+2", "+3", ">+3", "-1", "-2", "-3", "<-3"]
    weights = exported["weights"]
    assert weights.shape == (1, 8, 32)
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(exported["mean"], weights.mean(2), rtol=1e-6)
