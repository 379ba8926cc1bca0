#!/usr/bin/python3
"""Builds the example ONNX models and the models package's test fixtures.

Run from the repository root (Debian: apt-get install python3-onnx python3-sklearn):

    /usr/bin/python3 examples/models/make_models.py

It trains two small credit-default models on examples/loan/history.csv
(written by `go run ./examples/gen loan`, label column `default`) and writes:

  examples/models/loan_logreg.onnx      logistic regression (standardise, MatMul,
                                        Add, Sigmoid); outputs "logit" [N,1] and
                                        "probabilities" [N,2] (P(good), P(default))
  examples/models/loan_gbt.onnx         gradient-boosted trees (sklearn
                                        GradientBoostingClassifier) as an
                                        ai.onnx.ml TreeEnsembleClassifier; outputs
                                        "label" [N] int64 and "probabilities" [N,2]
  examples/models/loan_gbt_zipmap.onnx  the same trees followed by ZipMap, the way
                                        sklearn-onnx exports classifiers by default:
                                        "output_label" [N] int64 and
                                        "output_probability", a sequence of
                                        {class: probability} maps
  models/testdata/loan_reference.json   rows of features with the probabilities
                                        sklearn itself computes (predict_proba, in
                                        float64, without onnxruntime): the tests
                                        compare onnxruntime's outputs against them
  models/testdata/*.onnx                tiny hand-built graphs for the tests: every
                                        declaration mismatch, a run-time failure, a
                                        NaN output, a slow graph for timeouts, string
                                        class labels and a fixed batch size

No graph converter is needed (sklearn-onnx is not packaged by Debian): the
graphs are written with onnx.helper from the fitted estimators. The project's
build and tests only read the committed .onnx and .json files.

Every model takes one float32 input "features" of shape [N, 6], the policy's
inputs in this order: amount, term_months, income, existing_debt, overdue_30d,
age. Training uses rows 1-8000 of the file; the reference rows come from the
remaining 2000.
"""

import csv
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

FEATURES = ["amount", "term_months", "income", "existing_debt", "overdue_30d", "age"]
LABEL = "default"
TRAIN_ROWS = 8000
REFERENCE_ROWS = 40

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "examples", "loan", "history.csv")
OUT = os.path.join(ROOT, "examples", "models")
TESTDATA = os.path.join(ROOT, "models", "testdata")

OPSET = [helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)]
PRODUCER = "riskforge examples/models/make_models.py"


def load():
    with open(DATA, newline="") as f:
        # The incident rows examples/gen adds for the forced rules (user
        # ids x...) are left out: the models were trained on the ordinary
        # applications, which are the file's rows before incidents existed.
        rows = [r for r in csv.DictReader(f) if not r["user_id"].startswith("x")]
    # Empty cells take the policy's defaults (income and existing_debt
    # default to 0); the generator writes none for these columns today.
    x = np.array([[float(r[c] or 0) for c in FEATURES] for r in rows], dtype=np.float64)
    y = np.array([int(r[LABEL]) for r in rows], dtype=np.int64)
    return x, y


def model_proto(graph, doc):
    m = helper.make_model(graph, opset_imports=OPSET, producer_name=PRODUCER)
    m.ir_version = 8
    m.doc_string = doc
    onnx.checker.check_model(m)
    return m


def save(m, *path):
    p = os.path.join(*path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    # Deterministic bytes: same data, same file (and the same SHA-256).
    with open(p, "wb") as f:
        f.write(m.SerializeToString(deterministic=True))
    print("wrote", os.path.relpath(p, ROOT), os.path.getsize(p), "bytes")


def features_input():
    return helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(FEATURES)])


def f32(name, a):
    return numpy_helper.from_array(np.asarray(a, dtype=np.float32), name)


# ---------------------------------------------------------------------------
# Logistic regression
# ---------------------------------------------------------------------------

def logreg(x, y):
    scaler = StandardScaler().fit(x)
    lr = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x), y)
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["z"]),
        helper.make_node("MatMul", ["z", "coef"], ["zw"]),
        helper.make_node("Add", ["zw", "intercept"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
    ]
    inits = [
        f32("mean", scaler.mean_),
        f32("scale", scaler.scale_),
        f32("coef", lr.coef_.reshape(-1, 1)),
        f32("intercept", lr.intercept_),
        f32("one", [1.0]),
    ]
    g = helper.make_graph(nodes, "loan_logreg", [features_input()], [
        helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N", 1]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
    ], inits)
    m = model_proto(g, "Logistic regression of loan default on " + ", ".join(FEATURES) +
                    "; trained on examples/loan/history.csv rows 1-%d." % TRAIN_ROWS)
    return m, lambda a: np.column_stack([
        lr.decision_function(scaler.transform(a)),
        lr.predict_proba(scaler.transform(a))[:, 1],
    ])


# ---------------------------------------------------------------------------
# Gradient-boosted trees
# ---------------------------------------------------------------------------

def threshold32(t):
    """The largest float32 not above t: for every float32 x,
    x <= t (sklearn, in float64) exactly when x <= threshold32(t) (ONNX, in float32)."""
    t32 = np.float32(t)
    if float(t32) > t:
        t32 = np.nextafter(t32, np.float32(-np.inf))
    return float(t32)


def tree_attributes(gbt, base):
    a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values",
                         "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                         "class_treeids", "class_nodeids", "class_ids", "class_weights"]}
    for t, est in enumerate(gbt.estimators_[:, 0]):
        tr = est.tree_
        for n in range(tr.node_count):
            leaf = tr.children_left[n] == -1
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(n)
            a["nodes_featureids"].append(0 if leaf else int(tr.feature[n]))
            a["nodes_values"].append(0.0 if leaf else threshold32(tr.threshold[n]))
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_truenodeids"].append(0 if leaf else int(tr.children_left[n]))
            a["nodes_falsenodeids"].append(0 if leaf else int(tr.children_right[n]))
            if leaf:
                a["class_treeids"].append(t)
                a["class_nodeids"].append(n)
                a["class_ids"].append(0)
                a["class_weights"].append(float(tr.value[n][0][0]) * gbt.learning_rate)
    a["classlabels_int64s"] = [0, 1]
    a["post_transform"] = "LOGISTIC"
    a["base_values"] = [base]
    return a


def gbt_models(x, y):
    gbt = GradientBoostingClassifier(n_estimators=80, max_depth=3, learning_rate=0.1,
                                     subsample=1.0, random_state=1).fit(x, y)
    # The raw score before the trees (log-odds of the prior), recovered from
    # the public API: decision_function minus the trees' contributions.
    x0 = x[:1]
    trees = sum(est.predict(x0)[0] for est in gbt.estimators_[:, 0]) * gbt.learning_rate
    base = float(gbt.decision_function(x0)[0] - trees)
    attrs = tree_attributes(gbt, base)
    doc = ("Gradient-boosted trees (sklearn GradientBoostingClassifier, 80 trees of depth 3) "
           "of loan default on " + ", ".join(FEATURES) +
           "; trained on examples/loan/history.csv rows 1-%d." % TRAIN_ROWS)

    tree = helper.make_node("TreeEnsembleClassifier", ["features"], ["label", "probabilities"],
                            domain="ai.onnx.ml", **attrs)
    g = helper.make_graph([tree], "loan_gbt", [features_input()], [
        helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
    ])
    plain = model_proto(g, doc)

    tree = helper.make_node("TreeEnsembleClassifier", ["features"], ["output_label", "probability_tensor"],
                            domain="ai.onnx.ml", **attrs)
    zipmap = helper.make_node("ZipMap", ["probability_tensor"], ["output_probability"],
                              domain="ai.onnx.ml", classlabels_int64s=[0, 1])
    seq = helper.make_sequence_type_proto(map_type(
        TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])))
    g = helper.make_graph([tree, zipmap], "loan_gbt_zipmap", [features_input()], [
        helper.make_tensor_value_info("output_label", TensorProto.INT64, ["N"]),
        helper.make_value_info("output_probability", seq),
    ])
    zm = model_proto(g, doc + " Probabilities as a sequence of {class: probability} maps (ZipMap).")
    return plain, zm, lambda a: np.column_stack([gbt.decision_function(a), gbt.predict_proba(a)[:, 1]])


# ---------------------------------------------------------------------------
# Test fixtures for the models package
# ---------------------------------------------------------------------------

def map_type(key, value):
    # onnx 1.12 has no helper.make_map_type_proto.
    t = onnx.TypeProto()
    t.map_type.key_type = key
    t.map_type.value_type.CopyFrom(value)
    return t


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def fixture(name, nodes, inputs, outputs, inits=(), doc=""):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    save(model_proto(g, doc), TESTDATA, name + ".onnx")


def fixtures():
    F = TensorProto.FLOAT
    # sum: row sums of any number of features; "sum" [N,1] and "sum_vec" [N].
    fixture("sum", [
        helper.make_node("ReduceSum", ["x", "axes"], ["sum"], keepdims=1),
        helper.make_node("ReduceSum", ["x", "axes"], ["sum_vec"], keepdims=0),
    ], [vi("x", F, ["N", "F"])], [vi("sum", F, ["N", 1]), vi("sum_vec", F, ["N"])],
        [numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")],
        "Row sums; the feature dimension is dynamic.")
    # fixed_batch: [1,3] only, so batches run row by row.
    fixture("fixed_batch", [
        helper.make_node("ReduceSum", ["x", "axes"], ["sum"], keepdims=1),
    ], [vi("x", F, [1, 3])], [vi("sum", F, [1, 1])],
        [numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")],
        "Row sum with a fixed batch size of 1.")
    # double_input: the input tensor is double, not float.
    fixture("double_input", [
        helper.make_node("Cast", ["x"], ["y"], to=F),
    ], [vi("x", TensorProto.DOUBLE, ["N", 3])], [vi("y", F, ["N", 3])], doc="A double input.")
    # two_inputs: two graph inputs.
    fixture("two_inputs", [
        helper.make_node("Add", ["a", "b"], ["y"]),
    ], [vi("a", F, ["N", 1]), vi("b", F, ["N", 1])], [vi("y", F, ["N", 1])], doc="Two inputs.")
    # rank3_input: a [N,2,3] input.
    fixture("rank3_input", [
        helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0),
    ], [vi("x", F, ["N", 2, 3])], [vi("y", F, ["N", 3])],
        [numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")], "A rank-3 input.")
    # batch8: a fixed batch of 8 rows.
    fixture("batch8", [
        helper.make_node("Identity", ["x"], ["y"]),
    ], [vi("x", F, [8, 3])], [vi("y", F, [8, 3])], doc="A fixed batch of 8.")
    # gather: y = [10, 20, 30, 40][int(x)], fails at run time when x >= 4.
    fixture("gather", [
        helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "i"], ["g"], axis=0),
        helper.make_node("Cast", ["g"], ["y"], to=F),
    ], [vi("x", F, ["N", 1])], [vi("y", F, ["N", 1])],
        [f32("table", [10, 20, 30, 40])], "Table lookup that fails for x outside 0..3.")
    # reshape7: reshapes [N,3] to [-1,7]; loads, but no batch of rows fits.
    fixture("reshape7", [
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ], [vi("x", F, ["N", 3])], [vi("y", F, ["M", 7])],
        [numpy_helper.from_array(np.array([-1, 7], dtype=np.int64), "shape")],
        "Fails at run time: 3*N values never fill rows of 7 (for N < 7).")
    # nan: y = x * NaN.
    fixture("nan", [
        helper.make_node("Mul", ["x", "nan"], ["y"]),
    ], [vi("x", F, ["N", 1])], [vi("y", F, ["N", 1])], [f32("nan", [np.nan])], "Always NaN.")
    # strings: ZipMap with string class labels over the input itself.
    seq_str = helper.make_sequence_type_proto(map_type(
        TensorProto.STRING, helper.make_tensor_type_proto(F, [])))
    fixture("strings", [
        helper.make_node("Abs", ["x"], ["p"]),
        helper.make_node("ZipMap", ["p"], ["probs"], domain="ai.onnx.ml",
                         classlabels_strings=["good", "bad"]),
    ], [vi("x", F, ["N", 2])], [helper.make_value_info("probs", seq_str)],
        doc="ZipMap of abs(input) with string labels good, bad.")
    # slow: k = int(max(x)); multiplies a k x k matrix 120 times. x = 0 is
    # instant; x = 1000 takes seconds on one thread, in 120 steps, so
    # a terminated run stops within one step.
    nodes = [
        helper.make_node("ReduceMax", ["x"], ["kf"], keepdims=0),
        helper.make_node("Cast", ["kf"], ["k"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["k", "one_dim"], ["k1"]),
        helper.make_node("Concat", ["k1", "k1"], ["shape"], axis=0),
        helper.make_node("Reciprocal", ["kf"], ["inv"]),
        helper.make_node("Expand", ["inv", "shape"], ["m0"]),
    ]
    for i in range(120):
        nodes.append(helper.make_node("MatMul", ["m%d" % i, "m0"], ["m%d" % (i + 1)]))
    nodes += [
        helper.make_node("ReduceSum", ["m120"], ["s"], keepdims=1),
        helper.make_node("Mul", ["s", "zero"], ["s0"]),
        helper.make_node("Add", ["x", "s0"], ["y"]),
    ]
    fixture("slow", nodes, [vi("x", F, ["N", 1])], [vi("y", F, ["N", 1])], [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one_dim"),
        f32("zero", [0.0]),
    ], "Cost grows with x: for timeout tests.")
    with open(os.path.join(TESTDATA, "not_onnx.onnx"), "w") as f:
        f.write("this file is not an ONNX model\n")
    print("wrote models/testdata/not_onnx.onnx")


def main():
    x, y = load()
    xtr, ytr = x[:TRAIN_ROWS], y[:TRAIN_ROWS]
    xte, yte = x[TRAIN_ROWS:], y[TRAIN_ROWS:]

    lr_model, lr_ref = logreg(xtr, ytr)
    gbt_plain, gbt_zipmap, gbt_ref = gbt_models(xtr, ytr)
    save(lr_model, OUT, "loan_logreg.onnx")
    save(gbt_plain, OUT, "loan_gbt.onnx")
    save(gbt_zipmap, OUT, "loan_gbt_zipmap.onnx")
    for name, ref in [("logreg", lr_ref), ("gbt", gbt_ref)]:
        print("%-6s hold-out AUC %.4f" % (name, roc_auc_score(yte, ref(xte)[:, 1])))

    # Reference rows: spread over the hold-out part, plus the rows with the
    # highest and lowest predicted risk. Features are float32 values, as the
    # VM passes them; sklearn sees the same numbers (exact in float32).
    idx = list(np.linspace(0, len(xte) - 1, REFERENCE_ROWS - 4).astype(int))
    g = gbt_ref(xte)[:, 1]
    idx += [int(np.argmax(g)), int(np.argmin(g))]
    l = lr_ref(xte)[:, 1]
    idx += [int(np.argmax(l)), int(np.argmin(l))]
    rows = xte[idx].astype(np.float32).astype(np.float64)
    lr_out, gbt_out = lr_ref(rows), gbt_ref(rows)
    ref = {
        "source": "examples/loan/history.csv, hold-out rows (after row %d)" % TRAIN_ROWS,
        "computed_by": "scikit-learn %s predict_proba/decision_function in float64, without onnxruntime" % __import__("sklearn").__version__,
        "features": FEATURES,
        "rows": [[float(v) for v in r] for r in rows],
        "logreg_logit": [float(v) for v in lr_out[:, 0]],
        "logreg_probability": [float(v) for v in lr_out[:, 1]],
        "gbt_logit": [float(v) for v in gbt_out[:, 0]],
        "gbt_probability": [float(v) for v in gbt_out[:, 1]],
    }
    os.makedirs(TESTDATA, exist_ok=True)
    with open(os.path.join(TESTDATA, "loan_reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print("wrote models/testdata/loan_reference.json")
    fixtures()


if __name__ == "__main__":
    sys.exit(main())
