"""xgboost-style PMML tree ensembles scored in-process: every tree of a record at once, as bit masks.

pypmml answers in ~0.5-0.8 ms per record, most of it the trip to its JVM; a plain
Python walk of the 446 trees of pmml/model.pmml costs ~0.7 ms too. This engine reads the
same PMML, refuses every construct it does not implement (pypmml still scores those,
with ``model.engine: pypmml``), and compiles the trees so that a record costs a dozen
numpy operations, and a batch of records the same dozen per chunk:

* The split values of a field cut its axis into buckets: below the first value, at it,
  between it and the next, ..., and missing. Every predicate of every tree, so every
  path, depends on a record only through these buckets.
* Every node of a tree is a possible outcome: the node where the walk ends (a leaf, or
  an inner node none of whose children matched). An outcome holds iff each field lies in
  a set of its buckets. Compiling proves that each tree's outcomes split the combinations
  of buckets between them (so exactly one holds for any record, and scoring checks
  nothing), then writes, for each field and bucket, the bit mask of the outcomes that
  bucket allows; fields are grouped and their masks pre-ANDed for each combination of
  buckets, so a record needs one mask per group.
* Scoring ANDs a record's masks: one bit per tree survives, naming that tree's node.
  A tree owns whole 32-bit words (pmml/model.pmml: at most 44 outcomes, 536 words, 2 KB
  per mask), a third less memory to stream than 64-bit ones, ANDed in 64-bit pairs.

What a record costs is mostly memory traffic (29 masks of 2 KB) and numpy's per-call
overhead (~1 µs for each of ~12 calls); a batch pays the calls once per chunk of records
and keeps the chunk's masks in the CPU cache, so it costs a third as much per record.
Reading records from dicts (~5-7 µs for 112 fields) is then as much again.

The arithmetic is PMML4S's (pypmml's), the reference, rather than the one the PMML text
asks for: inputs, split values and scores are doubles (it ignores ``x-mathContext="float"``
and ``dataType="float"``), tree scores are summed in document order starting from 0.0,
and the logit is ``1 / (1 + exp(-y))``. The tree sums match pypmml's bit for bit; the
probability can still differ by one ulp (7 of 3,000 sample records), where Java's Math.exp
and C's exp round differently. Parity with pypmml is checked, not assumed
(``job.parity.check_parity``).
"""

from __future__ import annotations

import math
import operator
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Iterable, Mapping, NoReturn, Optional

import numpy as np

from job.pmml import ModelError, local_name, pmml_root

# Largest table of pre-ANDed masks per group of fields (rows = bucket combinations).
# Bigger groups mean fewer masks per record but more memory; for pmml/model.pmml 81 gives
# 29 masks and 5 MB, and 243 or 729 (23 / 20 masks, 12 / 28 MB) measured no faster.
GROUP_ROWS = 81
# The masks of all groups together: a model that needs more is refused (pypmml scores it).
MAX_MASK_BYTES = 512 << 20
# Records per chunk in batch scoring: the chunk's AND accumulator stays within this many
# bytes, inside the CPU's L2 cache (256 KB measured ~10 % faster than 128 or 512).
_CHUNK_BYTES = 256 << 10
_WORD_BITS = 32

_COMPARISONS = {
    "equal": operator.eq,
    "notEqual": operator.ne,
    "lessThan": operator.lt,
    "lessOrEqual": operator.le,
    "greaterThan": operator.gt,
    "greaterOrEqual": operator.ge,
}
_MISSING_TESTS = ("isMissing", "isNotMissing")
_REFUSAL = "is not supported by the compiled engine (model.engine: pypmml can score it)"


def _refuse(where: str, what: str) -> NoReturn:
    raise ModelError(f"{where}: {what} {_REFUSAL}")


def _check(el: ET.Element, where: str, attributes: Iterable[str] = (), children: Iterable[str] = ()) -> None:
    """Whitelist an element's attributes and child elements: anything unknown is refused,
    because an ignored element could change what pypmml would score."""
    unknown = sorted(set(el.attrib) - set(attributes))
    if unknown:
        _refuse(where, f"attribute {unknown[0]}={el.get(unknown[0])!r} on <{local_name(el.tag)}>")
    for child in el:
        if local_name(child.tag) not in children:
            _refuse(where, f"<{local_name(child.tag)}> inside <{local_name(el.tag)}>")


def _only(el: ET.Element, tag: str, where: str) -> ET.Element:
    found = [child for child in el if local_name(child.tag) == tag]
    if len(found) != 1:
        raise ModelError(f"{where}: expected one <{tag}> in <{local_name(el.tag)}>, found {len(found)}")
    return found[0]


def _require(el: ET.Element, name: str, expected: str, where: str, default: Optional[str] = None) -> None:
    value = el.get(name, default)
    if value != expected:
        _refuse(where, f"{name}={value!r} on <{local_name(el.tag)}> (only {expected!r})")


def _number(text: Optional[str], where: str, what: str) -> float:
    """A finite double, parsed as Java's Double.parseDouble would (both round correctly)."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ModelError(f"{where}: {what} {text!r} is not a number (corrupted model?)") from None
    if not math.isfinite(value):
        _refuse(where, f"non-finite {what} {text!r}")
    return value


@dataclass(frozen=True)
class Predicate:
    field: Optional[str]  # None for the constants True and False
    operator: str  # a SimplePredicate operator, or "True" / "False"
    value: float = math.nan


@dataclass(frozen=True)
class Node:
    predicate: Predicate
    score: float  # NaN when absent: a walk that ends here predicts nothing
    children: tuple["Node", ...]
    default_child: Optional[int]  # index into children (missingValueStrategy="defaultChild")


@dataclass(frozen=True)
class Tree:
    root: Node
    default_child: bool  # missingValueStrategy="defaultChild"; otherwise "none"
    return_last: bool  # noTrueChildStrategy="returnLastPrediction"; otherwise "returnNullPrediction"


@dataclass(frozen=True)
class Ensemble:
    """What the supported PMML says, before compilation.

    P(first category) = 1 / (1 + exp(-(intercept + coefficient * (sum * factor + constant))))
    where sum is the trees' scores added in order; the other category gets 1 - P.
    """

    inputs: tuple[str, ...]  # the top MiningSchema's active fields
    trees: tuple[Tree, ...]
    rescale_factor: float
    rescale_constant: float
    intercept: float
    coefficient: float
    complement: bool  # the output is the second category's probability, 1 - P


def parse(pmml_text: str, output_field: str) -> Ensemble:
    """The binary xgboost classifier layout sklearn2pmml writes, or ModelError naming what differs."""
    root = pmml_root(pmml_text)
    _check(root, "PMML", ("version",), ("Header", "DataDictionary", "MiningModel"))
    dictionary = _data_fields(_only(root, "DataDictionary", "PMML"))
    top = _only(root, "MiningModel", "PMML")
    where = "MiningModel"
    _check(
        top,
        where,
        ("functionName", "algorithmName", "modelName", "x-mathContext"),
        ("MiningSchema", "Segmentation", "ModelVerification"),
    )
    _require(top, "functionName", "classification", where)
    inputs = _mining_schema(_only(top, "MiningSchema", where), where, allowed=None)
    for name in inputs:
        _input_field(dictionary, name)
    chain = _only(top, "Segmentation", where)
    _check(chain, where, ("multipleModelMethod", "missingPredictionTreatment"), ("Segment",))
    _require(chain, "multipleModelMethod", "modelChain", where)
    segments = _segments(chain, where, ("MiningModel", "RegressionModel"))
    if [local_name(m.tag) for m in segments] != ["MiningModel", "RegressionModel"]:
        raise ModelError(
            f"{where}: expected a modelChain of a tree-sum MiningModel and a logit RegressionModel "
            f"(sklearn2pmml's xgboost classifier), found {[local_name(m.tag) for m in segments]}"
        )
    trees, factor, constant, chained = _tree_sum(segments[0], set(inputs))
    intercept, coefficient, complement = _logit(segments[1], chained, output_field)
    return Ensemble(tuple(inputs), trees, factor, constant, intercept, coefficient, complement)


def _data_fields(dictionary: ET.Element) -> dict[str, ET.Element]:
    _check(dictionary, "DataDictionary", ("numberOfFields",), ("DataField",))
    return {field.get("name"): field for field in dictionary}


def _input_field(dictionary: Mapping[str, ET.Element], name: str) -> None:
    """Inputs are continuous numbers whose only declared missing value is NaN: no
    intervals or valid-value lists, whose invalid-value handling this engine lacks."""
    where = f"DataField {name!r}"
    field = dictionary.get(name)
    if field is None:
        raise ModelError(f"{where}: used by the model but not in the DataDictionary")
    _check(field, where, ("name", "optype", "dataType", "displayName"), ("Value",))
    _require(field, "optype", "continuous", where)
    if field.get("dataType") not in ("float", "double"):
        _refuse(where, f"dataType={field.get('dataType')!r}")
    for value in field:
        _check(value, where, ("value", "property", "displayValue"))
        if value.get("property") != "missing" or value.get("value") != "NaN":
            _refuse(where, f"<Value value={value.get('value')!r} property={value.get('property')!r}>")


def _mining_schema(schema: ET.Element, where: str, allowed: Optional[set[str]]) -> list[str]:
    """Active field names; MiningField treatments (replacement values, outliers, ...) are refused."""
    _check(schema, where, (), ("MiningField",))
    names = []
    for field in schema:
        _check(field, where, ("name", "usageType"))
        usage = field.get("usageType", "active")
        if usage not in ("active", "target"):
            _refuse(where, f"MiningField usageType={usage!r}")
        if usage == "active":
            if allowed is not None and field.get("name") not in allowed:
                raise ModelError(f"{where}: MiningField {field.get('name')!r} is not an input of the model")
            names.append(field.get("name"))
    return names


def _segments(segmentation: ET.Element, where: str, models: tuple[str, ...]) -> list[ET.Element]:
    found = []
    for number, segment in enumerate(segmentation, 1):
        inner = f"{where} > Segment {number}"
        _check(segment, inner, ("id",), ("True", *models))
        if local_name(segment[0].tag) != "True" or len(segment) != 2:
            _refuse(inner, "a Segment without a single <True/> predicate and one model")
        found.append(segment[1])
    return found


def _tree_sum(model: ET.Element, inputs: set[str]) -> tuple[tuple[Tree, ...], float, float, str]:
    where = "MiningModel > Segment 1 (tree sum)"
    _check(
        model,
        where,
        ("functionName", "algorithmName", "modelName", "x-mathContext"),
        ("MiningSchema", "Output", "Targets", "Segmentation"),
    )
    _require(model, "functionName", "regression", where)
    _mining_schema(_only(model, "MiningSchema", where), where, inputs)
    output = _only(_only(model, "Output", where), "OutputField", where)
    _check(output, where, ("name", "optype", "dataType", "isFinalResult", "feature"))
    _require(output, "feature", "predictedValue", where, default="predictedValue")
    factor, constant = 1.0, 0.0
    targets = [el for el in model if local_name(el.tag) == "Targets"]
    if targets:
        target = _only(targets[0], "Target", where)
        _check(target, where, ("field", "rescaleFactor", "rescaleConstant"))
        factor = _number(target.get("rescaleFactor", "1"), where, "rescaleFactor")
        constant = _number(target.get("rescaleConstant", "0"), where, "rescaleConstant")
    segmentation = _only(model, "Segmentation", where)
    _check(segmentation, where, ("multipleModelMethod", "missingPredictionTreatment"), ("Segment",))
    _require(segmentation, "multipleModelMethod", "sum", where)
    _require(segmentation, "missingPredictionTreatment", "returnMissing", where)
    trees = tuple(
        _tree(tree, f"tree {number}", inputs)
        for number, tree in enumerate(_segments(segmentation, where, ("TreeModel",)), 1)
    )
    if not trees:
        raise ModelError(f"{where}: no trees")
    return trees, factor, constant, output.get("name")


def _tree(model: ET.Element, where: str, inputs: set[str]) -> Tree:
    _check(
        model,
        where,
        (
            "functionName",
            "noTrueChildStrategy",
            "missingValueStrategy",
            "splitCharacteristic",
            "x-mathContext",
            "modelName",
            "algorithmName",
        ),
        ("MiningSchema", "Node"),
    )
    _require(model, "functionName", "regression", where)
    strategy = model.get("missingValueStrategy", "none")
    if strategy not in ("none", "defaultChild"):
        _refuse(where, f"missingValueStrategy={strategy!r}")
    no_true_child = model.get("noTrueChildStrategy", "returnNullPrediction")
    if no_true_child not in ("returnNullPrediction", "returnLastPrediction"):
        _refuse(where, f"noTrueChildStrategy={no_true_child!r}")
    _mining_schema(_only(model, "MiningSchema", where), where, inputs)
    root = _node(_only(model, "Node", where), where, inputs)
    if root.predicate.operator != "True":
        _refuse(where, "a root Node whose predicate is not <True/>")
    return Tree(root, strategy == "defaultChild", no_true_child == "returnLastPrediction")


def _node(el: ET.Element, where: str, inputs: set[str]) -> Node:
    _check(el, where, ("score", "id", "defaultChild", "recordCount"), ("True", "False", "SimplePredicate", "Node"))
    if not len(el) or local_name(el[0].tag) == "Node":
        raise ModelError(f"{where}: a Node without a predicate (corrupted tree?)")
    if any(local_name(child.tag) != "Node" for child in el[1:]):
        raise ModelError(f"{where}: a Node with more than one predicate (corrupted tree?)")
    inner = f"{where} > Node {el.get('id')}" if el.get("id") else where
    children = tuple(_node(child, inner, inputs) for child in el[1:])
    default = el.get("defaultChild")
    default_index = None
    if default is not None:
        ids = [child.get("id") for child in el[1:]]
        if default not in ids:
            raise ModelError(f"{inner}: defaultChild {default!r} is none of its children {ids} (corrupted tree?)")
        default_index = ids.index(default)
    score = _number(el.get("score"), inner, "score") if el.get("score") is not None else math.nan
    return Node(_predicate(el[0], inner, inputs), score, children, default_index)


def _predicate(el: ET.Element, where: str, inputs: set[str]) -> Predicate:
    tag = local_name(el.tag)
    if tag in ("True", "False"):
        _check(el, where)
        return Predicate(None, tag)
    _check(el, where, ("field", "operator", "value"))
    field, test = el.get("field"), el.get("operator")
    if field not in inputs:
        raise ModelError(f"{where}: predicate on {field!r}, which is not an input of the model (corrupted tree?)")
    if test in _MISSING_TESTS:
        return Predicate(field, test)
    if test not in _COMPARISONS:
        _refuse(where, f"SimplePredicate operator={test!r}")
    return Predicate(field, test, _number(el.get("value"), where, "split value"))


def _logit(model: ET.Element, chained: str, output_field: str) -> tuple[float, float, bool]:
    """``(intercept, coefficient, complement)`` of the binary logit regression on the tree sum.

    PMML4S takes the first table's probability from the logit and gives the second 1 - p
    when the second table is the trivial one (intercept 0, no predictors); only that
    layout is accepted, as its rule for other layouts depends on the record.
    """
    where = "MiningModel > Segment 2 (logit)"
    _check(
        model,
        where,
        ("functionName", "normalizationMethod", "x-mathContext", "modelName", "algorithmName"),
        ("MiningSchema", "Output", "RegressionTable"),
    )
    _require(model, "functionName", "classification", where)
    _require(model, "normalizationMethod", "logit", where)
    _mining_schema(_only(model, "MiningSchema", where), where, {chained})
    tables = [el for el in model if local_name(el.tag) == "RegressionTable"]
    if len(tables) != 2:
        _refuse(where, f"{len(tables)} RegressionTables (only a binary logit with 2)")
    for table in tables:
        _check(table, where, ("intercept", "targetCategory"), ("NumericPredictor",))
    first, second = tables
    if len(first) != 1 or len(second) or _number(second.get("intercept", "0"), where, "intercept") != 0:
        _refuse(where, "a logit other than one predictor in the first table and a trivial second table")
    predictor = first[0]
    _check(predictor, where, ("name", "coefficient", "exponent"))
    if predictor.get("name") != chained or predictor.get("exponent", "1") != "1":
        _refuse(where, f"a predictor other than {chained!r} to the power 1")
    probabilities = {}
    for field in _only(model, "Output", where):
        _check(field, where, ("name", "optype", "dataType", "feature", "value"))
        if field.get("feature") == "probability":
            probabilities[field.get("name")] = field.get("value")
    category = probabilities.get(output_field)
    categories = [first.get("targetCategory"), second.get("targetCategory")]
    if category not in categories:
        raise ModelError(f"{where}: no probability output {output_field!r} (it has {sorted(probabilities)})")
    return (
        _number(first.get("intercept", "0"), where, "intercept"),
        _number(predictor.get("coefficient"), where, "coefficient"),
        category == categories[1],
    )


# --- compilation -------------------------------------------------------------------------
#
# A condition is a dict field -> bit set of the buckets allowed (Python int), or None when
# it cannot hold. A record's bucket in a field is the number of the field's cuts it is >=
# of, so that one comparison and one matrix product give every field's bucket at once.
# The cuts are -inf (NaN, missing, is >= of none: bucket 0) and the split values s_1..s_k;
# where a predicate tells a split value from the values just above it (=, !=, <=, >), also
# nextafter(s_m, +inf), since x > s_m iff x >= nextafter(s_m, +inf).


class _Buckets:
    """Each input's split values, cuts, and the buckets where each predicate holds."""

    def __init__(self, ensemble: Ensemble):
        values: dict[str, set[float]] = {name: set() for name in ensemble.inputs}
        self.points = set()  # fields whose split values are buckets of their own
        for tree in ensemble.trees:
            for node in _walk(tree.root):
                if node.predicate.operator in _COMPARISONS:
                    values[node.predicate.field].add(node.predicate.value)
                    if node.predicate.operator not in ("lessThan", "greaterOrEqual"):
                        self.points.add(node.predicate.field)
        self.splits = {name: tuple(sorted(found)) for name, found in values.items()}
        self.cuts = {name: self._cuts(name) for name in self.splits}

    def _cuts(self, field: str) -> list[float]:
        values = set(self.splits[field])
        if field in self.points:
            values |= {math.nextafter(value, math.inf) for value in values}
        return [-math.inf, *sorted(values)]

    def count(self, field: str) -> int:
        return len(self.cuts[field]) + 1

    def full(self, field: str) -> int:
        return (1 << self.count(field)) - 1

    def truth(self, predicate: Predicate) -> tuple[int, int]:
        """Bit sets of the buckets where the predicate is TRUE, and UNKNOWN (missing input).

        Bucket b >= 1 holds [cut b-1, cut b): below a split value that is cut i when
        b - 1 < i, at or above it when b - 1 = i (exactly at it where the field has point
        buckets; where it has none only < and >= test it), above it when b - 1 > i. So
        comparing b - 1 with i answers the predicate for every value of the bucket.
        """
        field, missing = predicate.field, 1
        if predicate.operator == "isMissing":
            return missing, 0
        if predicate.operator == "isNotMissing":
            return self.full(field) & ~missing, 0
        cut = self.cuts[field].index(predicate.value)
        compare = _COMPARISONS[predicate.operator]
        return sum(1 << b for b in range(1, self.count(field)) if compare(b - 1, cut)), missing


def _walk(node: Node) -> Iterable[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _conjoin(condition: Optional[dict[str, int]], field: Optional[str], bits: int) -> Optional[dict[str, int]]:
    """``condition`` AND (field in bits); field None is a constant (bits 0: false)."""
    if condition is None:
        return None
    if field is None:
        return condition if bits else None
    allowed = condition.get(field, bits) & bits
    return {**condition, field: allowed} if allowed else None


def _outcomes(tree: Tree, buckets: _Buckets, where: str) -> list[tuple[dict[str, int], float]]:
    """(condition, score) of every node a walk can end on, as PMML4S walks: the first
    child whose predicate is TRUE; UNKNOWN (a missing input) counts as not TRUE, unless
    the tree names a defaultChild, which is then taken when no child is TRUE and one is
    UNKNOWN; with no child taken the walk ends at the node (returnLastPrediction) or
    predicts nothing (returnNullPrediction).

    Each node's ways on (a child, or ending there) are proven to split all records between
    them, so that, node by node, every record ends on exactly one outcome and scoring
    needs no check."""
    found: list[tuple[dict[str, int], float]] = []

    def visit(node: Node, condition: Optional[dict[str, int]], path: str) -> None:
        if condition is None:
            return
        if not node.children:
            found.append((condition, node.score))
            return
        if tree.default_child:
            choices, end = _default_child_choices(node, buckets, path)
        else:
            choices, end = _first_true_choices(node, buckets)
        ways = [_conjoin_all({}, constraints) for constraints in (*choices, end)]
        _check_partition([way for way in ways if way is not None], buckets, path)
        for number, (child, choice) in enumerate(zip(node.children, choices), 1):
            visit(child, _conjoin_all(condition, choice), f"{path}.{number}")
        condition = _conjoin_all(condition, end)
        if condition is not None:
            found.append((condition, node.score if tree.return_last else math.nan))

    visit(tree.root, {}, where)
    return found


def _conjoin_all(condition: Optional[dict[str, int]], constraints: list[Constraint]) -> Optional[dict[str, int]]:
    for field, bits in constraints:
        condition = _conjoin(condition, field, bits)
    return condition


def _check_partition(conditions: list[dict[str, int]], buckets: _Buckets, where: str) -> None:
    """Raise unless the conditions split all combinations of buckets between them: they
    are pairwise disjoint (a shared field with no common bucket) and their sizes, in
    combinations of buckets, add up to all the combinations."""
    fields = sorted({field for condition in conditions for field in condition})
    combinations = math.prod(buckets.count(field) for field in fields)
    covered = sum(
        math.prod(condition.get(field, buckets.full(field)).bit_count() for field in fields) for condition in conditions
    )
    overlapping = any(
        all(condition[field] & other[field] for field in condition.keys() & other.keys())
        for number, condition in enumerate(conditions)
        for other in conditions[:number]
    )
    if overlapping or covered != combinations:
        raise ModelError(
            f"{where}: the compiled tree does not end every record on exactly one node "
            "(an engine bug): score this model with model.engine: pypmml"
        )


Constraint = tuple[Optional[str], int]  # (field, allowed buckets); field None: a constant, bits 0 = false


Choices = tuple[list[list[Constraint]], list[Constraint]]  # per child, the constraints to take it; to stop here


def _first_true_choices(node: Node, buckets: _Buckets) -> Choices:
    """missingValueStrategy="none": child i iff it is TRUE and no earlier child is."""
    choices: list[list[Constraint]] = []
    earlier_not_true: list[Constraint] = []
    for child in node.children:
        predicate = child.predicate
        if predicate.field is None:
            constant = int(predicate.operator == "True")
            true, not_true = (None, constant), (None, 1 - constant)
        else:
            bits = buckets.truth(predicate)[0]
            true, not_true = (predicate.field, bits), (predicate.field, buckets.full(predicate.field) & ~bits)
        choices.append([*earlier_not_true, true])
        earlier_not_true.append(not_true)
    return choices, earlier_not_true


def _default_child_choices(node: Node, buckets: _Buckets, where: str) -> Choices:
    """missingValueStrategy="defaultChild", as bit sets of the one field the children test.

    "No child TRUE but one UNKNOWN" is an OR across children: over one field it is still
    a set of that field's buckets, over several it is not, so that is refused.
    """
    fields = {child.predicate.field for child in node.children} - {None}
    if len(fields) > 1:
        _refuse(where, f"defaultChild among children that test different fields {sorted(fields)}")
    field = fields.pop() if fields else None
    full = buckets.full(field) if field else 1
    choices, seen, unknown = [], 0, 0
    for child in node.children:
        if child.predicate.field is None:
            true, maybe = (full if child.predicate.operator == "True" else 0), 0
        else:
            true, maybe = buckets.truth(child.predicate)
        choices.append(true & ~seen)
        seen |= true
        unknown |= maybe
    none_true = full & ~seen
    if node.default_child is not None:
        choices[node.default_child] |= none_true & unknown
        none_true &= ~unknown
    return [[(field, bits)] for bits in choices], [(field, none_true)]


class TreeEnsemble:
    """A compiled Ensemble. ``predict`` takes records as rows of ``fields``, NaN = missing."""

    def __init__(self, ensemble: Ensemble):
        self.ensemble = ensemble
        buckets = _Buckets(ensemble)
        per_tree = [_outcomes(tree, buckets, f"tree {n}") for n, tree in enumerate(ensemble.trees, 1)]
        # Tree t owns whole words, so that each surviving word names one tree's node; an
        # even number of words, ANDed as 64-bit pairs (a spare last word stays empty).
        words = [-(-len(outcomes) // _WORD_BITS) for outcomes in per_tree]
        first_word = np.cumsum([0, *words[:-1]])
        self._words = int(sum(words)) + int(sum(words)) % 2
        # A surviving word's float exponent is its bit + 1 (0 for an empty word, which adds
        # 0.0): row w of this table holds the scores of the nodes of word w by exponent.
        row = _WORD_BITS + 1
        self._values = np.zeros(self._words * row)
        self._word_rows = np.arange(self._words) * row
        valid = np.zeros(self._words * _WORD_BITS, dtype=bool)
        constraints: dict[str, tuple[list[int], list[int]]] = {}
        for start, outcomes in zip(first_word, per_tree):
            for column, (condition, score) in enumerate(outcomes, int(start) * _WORD_BITS):
                word, bit = divmod(column, _WORD_BITS)
                self._values[word * row + bit + 1] = score
                valid[column] = True
                for field, bits in condition.items():
                    constraints.setdefault(field, ([], []))[0].append(column)
                    constraints[field][1].append(bits)
        masks = {}
        for field in ensemble.inputs:
            if field in constraints:
                by_bucket = _bucket_masks(buckets.count(field), valid, *constraints[field])
                if (by_bucket != by_bucket[0]).any():  # else the field never changes an outcome
                    masks[field] = by_bucket
        if not masks:
            raise ModelError("no tree of the model tests any input: nothing to compile")
        self._build_groups(masks, buckets)

    def _build_groups(self, masks: dict[str, np.ndarray], buckets: _Buckets) -> None:
        """Fields grouped (fewest buckets first) into tables of pre-ANDed masks of at most
        GROUP_ROWS rows; a record's row is a mixed-radix number of its buckets, that is a
        weighted count of the cuts it is >= of."""
        groups: list[list[str]] = []
        rows = 0
        for field in sorted(masks, key=lambda name: len(masks[name])):
            if not groups or rows * len(masks[field]) > GROUP_ROWS:
                groups.append([])
                rows = 1
            groups[-1].append(field)
            rows *= len(masks[field])
        mask_bytes = sum(math.prod(len(masks[field]) for field in group) for group in groups) * self._words * 4
        if mask_bytes > MAX_MASK_BYTES:
            _refuse(
                "model",
                f"an ensemble whose compiled masks need {mask_bytes / 2**20:,.0f} MiB "
                f"(more than {MAX_MASK_BYTES / 2**20:,.0f} MiB)",
            )
        self.fields = tuple(field for group in groups for field in group)
        self.splits = {field: buckets.splits[field] for field in self.fields}
        cuts = [buckets.cuts[field] for field in self.fields]
        self._cuts = np.array([cut for field_cuts in cuts for cut in field_cuts])
        self._cut_field = np.repeat(np.arange(len(self.fields)), [len(field_cuts) for field_cuts in cuts])
        self._weights = np.zeros((len(self._cuts), len(groups)))
        self._offsets = np.zeros(len(groups))
        tables, first_cut = [], 0
        for number, group in enumerate(groups):
            table = masks[group[0]]
            for field in group[1:]:
                table = (table[:, None, :] & masks[field][None, :, :]).reshape(-1, self._words)
            stride = len(table)
            for field in group:
                stride //= len(masks[field])
                self._weights[first_cut : first_cut + len(buckets.cuts[field]), number] = stride
                first_cut += len(buckets.cuts[field])
            self._offsets[number] = sum(map(len, tables))
            tables.append(table)
        # ANDed 64 bits at a time: the words of a row are an even number of 32-bit ones.
        self._masks = np.concatenate(tables).view(np.uint64)
        get = operator.itemgetter(*self.fields)
        self._get = get if len(self.fields) > 1 else lambda row: (get(row),)
        self._chunk = max(1, _CHUNK_BYTES // (self._words * 4))

    @classmethod
    def from_pmml(cls, pmml_text: str, output_field: str) -> "TreeEnsemble":
        return cls(parse(pmml_text, output_field))

    @property
    def nbytes(self) -> int:
        return self._masks.nbytes + self._values.nbytes

    def score(self, row: Mapping[str, Optional[float]]) -> float:
        """One record; a field that is None, NaN or absent is missing. Its masks are
        ANDed in one call, as a batch's cannot be without leaving the cache."""
        values = self._values_of(row)
        try:
            record = np.fromiter(values, np.float64, len(values))  # ints too; faster than np.array
        except TypeError:  # None somewhere: np.array makes it NaN
            record = np.array(values, dtype=np.float64)
        keys = self._keys(record)
        survivors = np.bitwise_and.reduce(self._masks.take(keys, axis=0), axis=0)
        scores = self._scores(survivors)
        return self._probability(float(np.add.accumulate(scores)[-1]))

    def score_rows(self, rows: Iterable[Mapping[str, Optional[float]]]) -> np.ndarray:
        records = np.array(list(map(self._values_of, rows)), dtype=np.float64)
        return self.predict(records.reshape(-1, len(self.fields)))

    def _values_of(self, row: Mapping[str, Optional[float]]) -> tuple:
        try:
            return self._get(row)  # itemgetter: half the cost of a dict.get per field
        except KeyError:
            return tuple(map(row.get, self.fields))

    def predict(self, records: np.ndarray) -> np.ndarray:
        """P(output category) per record (rows of ``fields``, NaN = missing); NaN where
        the model predicts nothing."""
        records = np.asarray(records, dtype=np.float64)
        totals = [self._totals(records[i : i + self._chunk]) for i in range(0, len(records), self._chunk)]
        return np.array([self._probability(total) for chunk in totals for total in chunk.tolist()])

    def _totals(self, records: np.ndarray) -> np.ndarray:
        """The summed tree scores of each record of a batch, as ``score`` sums one record's.

        The masks of a record's groups are ANDed into one accumulator a group at a time,
        which keeps a chunk's working set in the CPU cache; the sums run down the trees
        across all records at once, still in tree order for each record.
        """
        keys = self._keys(records)
        survivors = self._masks.take(keys[:, 0], axis=0)
        for group in range(1, keys.shape[1]):
            np.bitwise_and(survivors, self._masks.take(keys[:, group], axis=0), out=survivors)
        scores = self._scores(survivors)
        # PMML4S adds the trees in order from 0.0 (Scala's Array.sum): down the rows of the
        # transposed copy; a lone record (where numpy would sum pairwise) as ``score`` does.
        if len(records) == 1:
            return np.add.accumulate(scores, axis=-1)[:, -1]
        return np.add.reduce(np.ascontiguousarray(scores.T), axis=0)

    def _keys(self, records: np.ndarray) -> np.ndarray:
        """Each group's table row: which buckets the record's fields lie in."""
        at_or_above = records.take(self._cut_field, axis=-1) >= self._cuts  # NaN (missing) is >= of no cut
        return np.add(np.dot(at_or_above, self._weights), self._offsets, dtype=np.intp, casting="unsafe")

    def _scores(self, survivors: np.ndarray) -> np.ndarray:
        """The score of the node each tree ended on, in tree order (0.0 for empty words)."""
        exponents = np.frexp(survivors.view(np.uint32).astype(np.float32))[1]
        return self._values.take(self._word_rows + exponents)

    def _probability(self, total: float) -> float:
        """In Python floats, so that a record gets the same bits alone or in a batch."""
        e = self.ensemble
        p = _logistic(e.intercept + e.coefficient * (total * e.rescale_factor + e.rescale_constant))
        return 1.0 - p if e.complement else p


def _bucket_masks(count: int, valid: np.ndarray, columns: list[int], allowed: list[int]) -> np.ndarray:
    """Per bucket of one field, the outcomes it allows, packed into 32-bit words: the
    outcomes that constrain the field (``columns``, with their ``allowed`` bucket bit
    sets) where their bit set has the bucket, every other valid outcome always."""
    distinct: dict[int, int] = {}
    index = [distinct.setdefault(bits, len(distinct)) for bits in allowed]
    table = np.array([[(bits >> b) & 1 for b in range(count)] for bits in distinct], dtype=bool)
    by_bucket = np.repeat(valid[None, :], count, axis=0)
    by_bucket[:, columns] = table[index].T
    return np.packbits(by_bucket, axis=1, bitorder="little").view("<u4")


def _logistic(y: float) -> float:
    """1 / (1 + exp(-y)) as PMML4S computes it in Java, where exp overflows to infinity."""
    try:
        return 1.0 / (1.0 + math.exp(-y))
    except OverflowError:
        return 0.0
