"""Exact per-feature contributions of a fitted pipeline, against a reference row.

`contributions(pipeline, X, reference, ref_of_row)` returns, for every row of X, one
number per input feature such that the numbers add up exactly to

    raw(x) - raw(reference of that row)

where `raw` is the classifier's own raw output (its log-odds before calibration):
`decision_function` for logistic regression, the summed tree values for gradient
boosting. They are Shapley values of the game "which features take the account's value
and which the reference's" (baseline Shapley, also called interventional SHAP with a
single background row):

- logistic regression: the preprocessing is column-wise, so a feature's contribution
  is coef . (T(x) - T(reference)) over the columns it produces (one-hot columns,
  missing-value indicators included). Exact by construction.
- HistGradientBoosting: computed from the fitted trees (`_predictors`, their nodes
  arrays), one tree at a time. A leaf reached with some features taking the account's
  branch (set A) and some the reference's (set B) adds value * (|A|-1)! |B|! / (|A|+|B|)!
  to each feature of A and subtracts value * |A|! (|B|-1)! / (|A|+|B|)! from each of B;
  features on which both rows take the same branch are indifferent. The recursion only
  follows rows that can still reach a node, so a row costs about one path per tree
  plus one more wherever it and its reference part ways.

Calibration (a monotone mapping of the raw score, e.g. Platt) stays outside: callers
that want the contributions on another scale (log-odds after Platt, health points)
rescale them by one factor per row, which keeps them additive.

Only the pipeline interface is assumed: every step but the last is a transform whose
output columns each come from one input column (a ColumnTransformer), and the last is
a LogisticRegression or HistGradientBoostingClassifier, or a wrapper holding one in
`estimator_` (a fixed calibration).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoring import parallel

# Rows per piece of a large `contributions` call: the 200,000 rows of a 100k-account
# book's two periods take 8.9 s in one piece, 4.5 s in two pieces side by side.
PIECE_ROWS = 32_768


class AttributionError(ValueError):
    """The pipeline is not one whose contributions can be computed exactly."""


@dataclass
class Attribution:
    features: list[str]        # input features, in the order of the columns of `values`
    values: np.ndarray         # (rows, features): contributions on the raw scale
    raw: np.ndarray            # raw score of each row
    reference_raw: np.ndarray  # raw score of each row's reference

    def check(self, tol: float = 1e-9) -> float:
        """Largest additivity error |sum - (raw - reference_raw)|; raises above `tol`."""
        err = float(np.max(np.abs(self.values.sum(axis=1) - (self.raw - self.reference_raw)),
                           initial=0.0))
        if err > tol * max(1.0, float(np.max(np.abs(self.raw), initial=0.0))):
            raise AttributionError(f"contributions do not add up (error {err:.3g})")
        return err


def split_pipeline(pipeline: Any) -> tuple[Any, Any]:
    """(preprocessing transform or None, the bare classifier) of a fitted pipeline."""
    steps = getattr(pipeline, "steps", None)
    if steps is None:
        prep, final = None, pipeline
    else:
        final = steps[-1][1]
        rest = steps[:-1]
        if not rest:
            prep = None
        elif len(rest) == 1:
            prep = rest[0][1]
        else:
            from sklearn.pipeline import Pipeline

            prep = Pipeline(rest)
    clf = getattr(final, "estimator_", final)
    return prep, clf


def contributions(pipeline: Any, X: pd.DataFrame, reference: pd.DataFrame,
                  ref_of_row: np.ndarray | None = None,
                  features: list[str] | None = None) -> Attribution:
    """Exact contributions of each input feature (see module doc).

    `reference` holds one or a few reference rows (e.g. one per segment); row i of X is
    compared with `reference.iloc[ref_of_row[i]]` (all with row 0 when None). A row's
    contributions depend on that row and its reference alone, so more than PIECE_ROWS
    rows are done in pieces on the cores (`scoring.parallel`; numpy does the work, without
    the GIL) and put together: the same numbers as in one piece.
    """
    features = list(features if features is not None else X.columns)
    n = len(X)
    ref_of_row = (np.zeros(n, dtype="int64") if ref_of_row is None
                  else np.asarray(ref_of_row, dtype="int64"))
    if n <= PIECE_ROWS:
        return _contributions(pipeline, X, reference, ref_of_row, features)
    pieces = parallel.ordered_map(
        lambda start: _contributions(pipeline, X.iloc[start:start + PIECE_ROWS], reference,
                                     ref_of_row[start:start + PIECE_ROWS], features),
        range(0, n, PIECE_ROWS), name="outcomes-attributions")
    return Attribution(features, np.concatenate([p.values for p in pieces]),
                       np.concatenate([p.raw for p in pieces]),
                       np.concatenate([p.reference_raw for p in pieces]))


def _contributions(pipeline: Any, X: pd.DataFrame, reference: pd.DataFrame,
                   ref_of_row: np.ndarray, features: list[str]) -> Attribution:
    """`contributions` of one piece of rows."""
    prep, clf = split_pipeline(pipeline)
    Xf, Rf = X[features], reference[features]
    Zx = prep.transform(Xf) if prep is not None else Xf.to_numpy()
    Zr = prep.transform(Rf) if prep is not None else Rf.to_numpy()
    owner = _column_owners(prep, features, _width(Zx))
    name = type(clf).__name__
    if name == "LogisticRegression":
        values_t, raw, ref_raw = _linear(clf, Zx, Zr, ref_of_row)
    elif name == "HistGradientBoostingClassifier":
        values_t, raw, ref_raw = _trees(clf, Zx, Zr, ref_of_row)
    else:
        raise AttributionError(f"no exact attributions for a {name}")
    values = sum_columns(values_t, owner, len(features))   # transformed columns into their input
    return Attribution(features, values, raw, ref_raw)


def sum_columns(values: np.ndarray, owner: Sequence[int] | np.ndarray, width: int,
                scale: np.ndarray | None = None) -> np.ndarray:
    """(rows, width): column k holds the sum of the columns j of `values` (times `scale`
    per row, when given) with owner[j] == k, added in column order: what
    `np.add.at(out.T, owner, values.T)` gives, bit for bit, without its per-element loop."""
    out = np.zeros((values.shape[0], width))
    for j, k in enumerate(np.asarray(owner).tolist()):
        out[:, k] += values[:, j] if scale is None else values[:, j] * scale
    return out


def _width(Z: Any) -> int:
    return int(Z.shape[1])


def _dense(Z: Any) -> np.ndarray:
    if hasattr(Z, "toarray"):
        Z = Z.toarray()
    return np.asarray(Z, dtype="float64")


def _column_owners(prep: Any, features: list[str], width: int) -> np.ndarray:
    """Index (into `features`) of the input column each transformed column comes from."""
    if prep is None:
        return np.arange(len(features))
    ct = prep
    if not hasattr(ct, "transformers_") and hasattr(ct, "steps") and len(ct.steps) == 1:
        ct = ct.steps[0][1]
    if not hasattr(ct, "transformers_"):
        raise AttributionError("the preprocessing must be a ColumnTransformer")
    position = {f: i for i, f in enumerate(features)}
    owners: list[int] = []
    for _, trans, cols in ct.transformers_:
        if trans == "drop" or (hasattr(cols, "__len__") and len(cols) == 0):
            continue
        cols = [features[c] for c in cols] if len(cols) and not isinstance(cols[0], str) else list(cols)
        if trans == "passthrough":
            owners.extend(position[c] for c in cols)
            continue
        out = list(trans.get_feature_names_out(cols))
        by_length = sorted(cols, key=len, reverse=True)
        for o in out:
            o = o.removeprefix("missingindicator_")
            match = next((c for c in by_length if o == c or o.startswith(c + "_")), None)
            if match is None:
                raise AttributionError(f"cannot tell which input column {o!r} comes from")
            owners.append(position[match])
    if len(owners) != width:
        raise AttributionError(f"{len(owners)} named columns for {width} transformed ones")
    return np.asarray(owners, dtype="int64")


def _linear(clf: Any, Zx: Any, Zr: Any, ref_of_row: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coef = np.asarray(clf.coef_, dtype="float64").ravel()
    b = float(np.ravel(clf.intercept_)[0])
    zx, zr = _dense(Zx), _dense(Zr)
    raw = zx @ coef + b
    ref = zr @ coef + b
    values = (zx - zr[ref_of_row]) * coef
    return values, raw, ref[ref_of_row]


# -- gradient boosting ----------------------------------------------------------------


def _shapley_weights(depth: int) -> np.ndarray:
    """W[a, b] = a! b! / (a + b + 1)!  for a, b < depth."""
    size = depth + 1
    W = np.zeros((size, size))
    for a in range(size):
        for b in range(size - a):
            W[a, b] = math.factorial(a) * math.factorial(b) / math.factorial(a + b + 1)
    return W


def _goes_left(values: np.ndarray, node: Any, raw_left: np.ndarray,
               known: np.ndarray, f_idx_map: np.ndarray) -> np.ndarray:
    """The predictor's own branch rule (sklearn _predictor.pyx) for a vector of values."""
    missing_left = bool(node["missing_go_to_left"])
    nan = np.isnan(values)
    if not node["is_categorical"]:
        with np.errstate(invalid="ignore"):
            left = values <= node["num_threshold"]
        left[nan] = missing_left
        return left
    codes = np.where(nan | (values < 0), 0, values).astype("int64")
    codes = np.clip(codes, 0, 255)
    def in_set(bitset: np.ndarray) -> np.ndarray:
        return ((bitset[codes // 32] >> (codes % 32).astype(np.uint32)) & 1).astype(bool)
    in_left = in_set(raw_left[node["bitset_idx"]])
    in_known = in_set(known[f_idx_map[node["feature_idx"]]])
    left = np.where(in_left, True, np.where(in_known, False, missing_left))
    left[nan | (values < 0)] = missing_left
    return left


def _trees(clf: Any, Zx: Any, Zr: Any, ref_of_row: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if getattr(clf, "n_trees_per_iteration_", 1) != 1:
        raise AttributionError("only binary gradient boosting is supported")
    # Column-major: each node reads one feature's column, whole.
    X = np.asfortranarray(clf._preprocess_X(Zx, reset=False), dtype="float64")
    R = np.asfortranarray(clf._preprocess_X(Zr, reset=False), dtype="float64")
    known, f_idx_map = clf._bin_mapper.make_known_categories_bitsets()
    n, m = X.shape
    base = float(np.ravel(clf._baseline_prediction)[0])
    values = np.zeros((m, n))   # features x rows: a tree adds whole rows of it
    raw = np.full(n, base)
    ref_raw = np.full(len(R), base)
    trees = [_TreePlan(p[0]) for p in clf._predictors]
    depth = max((t.depth for t in trees), default=0)
    W = _shapley_weights(depth + 1)
    for tree in trees:
        if tree.constant is not None:
            raw += tree.constant
            ref_raw += tree.constant
            continue
        ref_left = tree.goes_left(R, known, f_idx_map)                   # (internal, k)
        ref_entries = ref_left[tree.entry_node] == tree.entry_dir[:, None]  # (entries, k)
        ref_raw += tree.leaf_value[np.argmax(
            _groups_all(ref_entries, tree.leaf_entry_start), axis=0)]
        # A row's contributions from this tree depend only on the branch it takes at
        # each node and on its reference: work on the distinct (branches, reference)
        # patterns (a few hundred at most in practice), then spread them to the rows.
        x_left = tree.goes_left(X, known, f_idx_map)                      # (internal, n)
        code = (x_left.T.astype("int64") @ tree.powers) + ref_of_row * tree.ref_stride
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        sub_values = np.zeros((len(tree.feats), len(first)))
        sub_raw = np.zeros(len(first))
        tree.add(x_left[:, first], ref_entries[:, ref_of_row[first]], W, sub_values, sub_raw)
        values[tree.feats] += sub_values[:, inverse]
        raw += sub_raw[inverse]
    return values.T, raw, ref_raw[ref_of_row]


class _TreePlan:
    """One tree's root-to-leaf paths as flat arrays, for vectorised contributions.

    entries: every (leaf, node on its path) with the branch taken, sorted by leaf then
    feature; pairs: each (leaf, feature) group of entries; per leaf its first entry and
    first pair.
    """

    def __init__(self, predictor: Any) -> None:
        nodes = predictor.nodes
        self.nodes = nodes
        self.raw_left = predictor.raw_left_cat_bitsets
        self.depth = int(nodes["depth"].max())
        self.constant = float(nodes[0]["value"]) if nodes[0]["is_leaf"] else None
        if self.constant is not None:
            return
        internal = np.flatnonzero(nodes["is_leaf"] == 0)
        self.internal = internal
        if len(internal) > 61:
            raise AttributionError("trees with more than 62 leaves are not supported")
        self.powers = (1 << np.arange(len(internal), dtype="int64"))
        self.ref_stride = int(1 << len(internal))
        pos = {int(i): j for j, i in enumerate(internal)}
        leaves: list[tuple[float, list[tuple[int, bool, int]]]] = []
        stack = [(0, [])]
        while stack:
            i, path = stack.pop()
            node = nodes[i]
            if node["is_leaf"]:
                leaves.append((float(node["value"]), path))
                continue
            stack.append((int(node["right"]), [*path, (pos[i], False, int(node["feature_idx"]))]))
            stack.append((int(node["left"]), [*path, (pos[i], True, int(node["feature_idx"]))]))
        entry_node, entry_dir, leaf_entry_start = [], [], []
        pair_start, pair_leaf, pair_feat, leaf_pair_start = [], [], [], []
        for leaf, (_, path) in enumerate(leaves):
            leaf_entry_start.append(len(entry_node))
            leaf_pair_start.append(len(pair_start))
            for feat in sorted({f for _, _, f in path}):
                pair_start.append(len(entry_node))
                pair_leaf.append(leaf)
                pair_feat.append(feat)
                for node_pos, left, f in path:
                    if f == feat:
                        entry_node.append(node_pos)
                        entry_dir.append(left)
        self.leaf_value = np.array([v for v, _ in leaves])
        self.entry_node = np.array(entry_node, dtype="int64")
        self.entry_dir = np.array(entry_dir, dtype=bool)
        self.leaf_entry_start = np.array(leaf_entry_start, dtype="int64")
        self.pair_start = np.array(pair_start, dtype="int64")
        self.pair_leaf = np.array(pair_leaf, dtype="int64")
        self.leaf_pair_start = np.array(leaf_pair_start, dtype="int64")
        pair_feat = np.array(pair_feat, dtype="int64")
        self.feat_order = np.argsort(pair_feat, kind="stable")
        sorted_feat = pair_feat[self.feat_order]
        self.feat_start = np.flatnonzero(np.r_[True, sorted_feat[1:] != sorted_feat[:-1]])
        self.feats = sorted_feat[self.feat_start]

    def goes_left(self, X: np.ndarray, known: np.ndarray, f_idx_map: np.ndarray) -> np.ndarray:
        """(internal nodes, rows): whether each row takes the left branch."""
        out = np.empty((len(self.internal), len(X)), dtype=bool)
        for j, i in enumerate(self.internal):
            node = self.nodes[i]
            out[j] = _goes_left(X[:, node["feature_idx"]], node, self.raw_left, known,
                                f_idx_map)
        return out

    def add(self, x_left: np.ndarray, ref_entries: np.ndarray, W: np.ndarray,
            values: np.ndarray, raw: np.ndarray) -> None:
        """Add this tree's contributions (values: features of `self.feats` x rows) and
        leaf values (raw) for rows whose branches are `x_left` (internal nodes, rows);
        `ref_entries` (entries, rows) are their references' branches. Arrays are laid
        out (groups, rows) so every reduction runs along whole rows."""
        x_entries = x_left[self.entry_node] == self.entry_dir[:, None]
        xc = _groups_all(x_entries, self.pair_start)                        # (pairs, n)
        rc = _groups_all(ref_entries, self.pair_start)
        a_set = xc & ~rc
        b_set = rc & ~xc
        starts = self.leaf_pair_start
        reach = _groups_all(xc | rc, starts)                                # (leaves, n)
        own = _groups_all(xc, starts)
        raw += self.leaf_value @ own
        n_a = _groups_sum(a_set, starts)
        n_b = _groups_sum(b_set, starts)
        scale = reach * self.leaf_value[:, None]
        w_a = W[np.maximum(n_a - 1, 0), n_b] * scale
        w_b = W[n_a, np.maximum(n_b - 1, 0)] * scale
        per_pair = a_set * w_a[self.pair_leaf] - b_set * w_b[self.pair_leaf]
        values += _groups_sum(per_pair[self.feat_order], self.feat_start)


# numpy's reduceat along the first axis is slow (it does not vectorise over the rows);
# looping over the groups, each reduced along whole rows, is many times faster.

def _groups_all(a: np.ndarray, starts: np.ndarray) -> np.ndarray:
    ends = np.r_[starts[1:], len(a)]
    out = np.empty((len(starts), a.shape[1]), dtype=bool)
    for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        out[g] = a[s] if e - s == 1 else a[s:e].all(axis=0)
    return out


def _groups_sum(a: np.ndarray, starts: np.ndarray) -> np.ndarray:
    ends = np.r_[starts[1:], len(a)]
    out = np.empty((len(starts), a.shape[1]),
                   dtype="int64" if a.dtype == bool else a.dtype)
    for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        out[g] = a[s] if e - s == 1 else a[s:e].sum(axis=0)
    return out


def raw_score(pipeline: Any, X: pd.DataFrame) -> np.ndarray:
    """The classifier's raw output (log-odds before calibration) for rows of X."""
    prep, clf = split_pipeline(pipeline)
    Z = prep.transform(X) if prep is not None else X
    if type(clf).__name__ == "HistGradientBoostingClassifier":
        return np.asarray(clf._raw_predict(Z), dtype="float64")[:, 0]
    return np.asarray(clf.decision_function(Z), dtype="float64").ravel()
