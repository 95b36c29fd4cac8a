"""Exact path-dependent TreeSHAP (Lundberg et al., 2020) for a tree ensemble held as flat arrays,
in numpy, batched over leaves and rows instead of recursing per row.

For one leaf l with value v, the path from the root holds d distinct features; feature j has a
cover fraction z_j (the product, over the path's splits on j, of child weight / parent weight) and,
for a row x, o_j(x) = 1 when x takes every one of those splits as the path does, else 0. The tree's
conditional expectation given the features in S sums v * prod_{j in S} o_j * prod_{j not in S} z_j
over leaves, so feature i's Shapley value from leaf l is

    v * (o_i - z_i) * sum_k w(k, d) * [t^k] prod_{j != i} (z_j + o_j t),   w(k, d) = k! (d-k-1)! / d!

The polynomial is built once per leaf and row, and divided by (z_i + o_i t) for each i (exact:
that factor is one of the product's). The values add up to f(x) - E[f] per tree, E[f] being the
root's cover-weighted mean, so the base is the same as the Saabas base. Leaves are processed in
chunks sorted by path length, which bounds memory at about CHUNK_ELEMENTS floats per array.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np
from numpy.typing import NDArray

CHUNK_ELEMENTS = 1_000_000  # leaves x rows x path slots held at once


@dataclass(frozen=True)
class LeafPaths:
    """Every leaf's path from its root, padded to the longest path; worked out once per model."""

    leaf: NDArray[np.int64]  # leaves, sorted by path length
    length: NDArray[np.int64]  # splits on each leaf's path
    node: NDArray[np.int64]  # leaves x depth: the split node at each step (-1: padding)
    left: NDArray[np.bool_]  # leaves x depth: the path goes left there
    slot: NDArray[np.int64]  # leaves x depth: the step's feature's slot (its first step on the path)
    cover: NDArray[np.float64]  # leaves x depth: per slot, the product of the path's cover fractions
    present: NDArray[np.bool_]  # leaves x depth: slots that hold a feature
    weights: NDArray[np.float64]  # leaves x depth: w(k, d) for k = 0 .. depth-1, d the leaf's features

    @classmethod
    def of(
        cls,
        feature: NDArray[np.int64],
        left: NDArray[np.int64],
        right: NDArray[np.int64],
        weight: NDArray[np.float64],
    ) -> LeafPaths:
        nodes = np.arange(left.size)
        inner = left >= 0
        parent = np.full(left.size, -1, dtype=np.int64)
        went_left = np.zeros(left.size, dtype=bool)
        parent[left[inner]], went_left[left[inner]] = nodes[inner], True
        parent[right[inner]] = nodes[inner]
        leaves = nodes[~inner]
        steps_node, steps_left, steps_cover = [], [], []
        current = leaves.copy()
        while True:
            up = parent[current]
            active = up >= 0
            if not active.any():
                break
            safe = np.where(active, up, 0)
            steps_node.append(np.where(active, up, -1))
            steps_left.append(went_left[current] & active)
            ratio = np.where(active, weight[current] / np.maximum(weight[safe], np.finfo(np.float64).tiny), 1.0)
            steps_cover.append(ratio)
            current = np.where(active, up, current)
        depth = len(steps_node)
        shape = (leaves.size, max(depth, 1))
        node = np.stack(steps_node, axis=1) if depth else np.full(shape, -1, dtype=np.int64)
        goes_left = np.stack(steps_left, axis=1) if depth else np.zeros(shape, dtype=bool)
        ratio = np.stack(steps_cover, axis=1) if depth else np.ones(shape)
        valid = node >= 0
        step_feature = np.where(valid, feature[np.where(valid, node, 0)], -1)
        slot = np.where(valid, np.arange(shape[1])[None, :], -1)
        for k in range(shape[1]):  # a feature met again on the path shares its first step's slot
            for j in range(k):
                again = valid[:, k] & (step_feature[:, k] == step_feature[:, j]) & (slot[:, k] == k)
                slot[again, k] = slot[again, j]
        cover = np.ones(shape)
        present = np.zeros(shape, dtype=bool)
        rows = np.arange(leaves.size)
        for k in range(shape[1]):
            has = valid[:, k]
            cover[rows[has], slot[has, k]] *= ratio[has, k]
            present[rows[has], slot[has, k]] = True
        distinct = present.sum(axis=1)
        table = np.zeros((shape[1] + 1, shape[1]))
        for d in range(1, shape[1] + 1):
            for k in range(d):
                table[d, k] = factorial(k) * factorial(d - k - 1) / factorial(d)
        order = np.argsort(valid.sum(axis=1), kind="stable")
        return cls(
            leaf=leaves[order],
            length=valid.sum(axis=1)[order],
            node=node[order],
            left=goes_left[order],
            slot=slot[order],
            cover=cover[order],
            present=present[order],
            weights=table[distinct[order]],
        )


def tree_shap(
    paths: LeafPaths,
    x: NDArray[np.float64],
    feature: NDArray[np.int64],
    threshold: NDArray[np.float64],
    value: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Shapley values, rows x columns x outputs (their sum per row: f(x) minus the base)."""
    n, columns = x.shape
    outputs = value.shape[1]
    out = np.zeros((columns * n, outputs))
    total = paths.leaf.size
    start = 0
    while start < total:
        depth = max(int(paths.length[min(total - 1, start)]), 1)
        size = max(1, CHUNK_ELEMENTS // (n * (depth + 1)))
        stop = min(total, start + size)
        depth = max(int(paths.length[stop - 1]), 1)
        _chunk(paths, slice(start, stop), depth, x, feature, threshold, value, out)
        start = stop
    return out.reshape(columns, n, outputs).transpose(1, 0, 2)


def _chunk(
    paths: LeafPaths,
    part: slice,
    depth: int,
    x: NDArray[np.float64],
    feature: NDArray[np.int64],
    threshold: NDArray[np.float64],
    value: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    node, goes_left, slot = paths.node[part, :depth], paths.left[part, :depth], paths.slot[part, :depth]
    cover, present, weights = paths.cover[part, :depth], paths.present[part, :depth], paths.weights[part, :depth]
    leaves, n = node.shape[0], x.shape[0]
    valid = node >= 0
    safe = np.where(valid, node, 0)
    # o: leaves x slots x rows, 1 where the row takes every split of the slot's feature as the path does.
    follows = (x[:, feature[safe]] <= threshold[safe][None, :, :]).transpose(1, 2, 0) == goes_left[:, :, None]
    one = np.where(present[:, :, None], 1.0, 0.0) * np.ones((1, 1, n))
    rows = np.arange(leaves)
    for k in range(depth):
        has = valid[:, k]
        one[rows[has], slot[has, k], :] *= follows[has, k, :]
    zero = np.where(present, cover, 1.0)[:, :, None]  # an empty slot is the factor 1 (z = 1, o = 0)
    # prod over slots of (z + o t): coefficients leaves x rows x (depth + 1)
    poly = np.zeros((leaves, n, depth + 1))
    poly[:, :, 0] = 1.0
    for s in range(depth):
        z, o = zero[:, s, :], one[:, s, :]
        shifted = np.zeros_like(poly)
        shifted[:, :, 1:] = poly[:, :, :-1] * o[:, :, None]
        poly = poly * z[:, :, None] + shifted
    leaf_value = value[paths.leaf[part]]  # leaves x outputs
    for s in range(depth):
        if not present[:, s].any():
            continue
        z, o = zero[:, s, :], one[:, s, :]
        # prod over the other slots: poly / (z + o t); by z alone where o = 0, else top-down division.
        quotient = np.zeros((leaves, n, depth))
        carry = np.zeros((leaves, n))
        for k in range(depth, 0, -1):
            carry = poly[:, :, k] - z * carry if k < depth else poly[:, :, k]
            quotient[:, :, k - 1] = carry
        divided = np.where((o > 0)[:, :, None], quotient, poly[:, :, :depth] / z[:, :, None])
        weighted = (divided * weights[:, None, :]).sum(axis=2) * (o - z)  # leaves x rows
        weighted = np.where(present[:, s, None], weighted, 0.0)
        column = feature[safe[:, s]]  # slot s is numbered by the step that first splits on its feature
        where = (column[:, None] * n + np.arange(n)[None, :]).ravel()
        for k in range(value.shape[1]):
            out[:, k] += np.bincount(where, weights=(weighted * leaf_value[:, k, None]).ravel(), minlength=out.shape[0])
