"""The compiled engine against pypmml, the reference: the real models, random trees, refusals."""

import hashlib
import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import job.tree_engine
from job.engines import open_scorer
from job.model import ModelSpec, load_spec
from job.parity import PARITY_TOLERANCE, sample_rows
from job.pmml import ModelError, split_values, verification
from job.pypmml_engine import PypmmlScorer
from job.tree_engine import TreeEnsemble, _Buckets, _check_partition, _outcomes, parse
from tests.support.fixtures import FIXTURES

REPO = Path(__file__).resolve().parents[2]
MODELS = {
    "model": (REPO / "pmml" / "model.pmml", REPO / "pmml" / "model.json"),
    "baseline": (REPO / "pmml" / "baseline.pmml", REPO / "pmml" / "baseline.json"),
    "fixture-model": (FIXTURES / "model.pmml", FIXTURES / "model.json"),
    "fixture-baseline": (FIXTURES / "baseline.pmml", FIXTURES / "baseline.json"),
}
OUTPUT = "probability(1)"


@pytest.fixture(scope="module", params=sorted(MODELS))
def engines(request):
    """(spec, compiled scorer, pypmml scorer) for one of the four PMML files."""
    spec = load_spec(*MODELS[request.param])
    compiled, reference = open_scorer(spec, "compiled"), open_scorer(spec, "pypmml")
    yield spec, compiled, reference
    compiled.close()
    reference.close()


def assert_parity(compiled, reference, rows):
    ours, theirs = compiled.score_batch(rows), reference.score_batch(rows)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    difference = np.nan_to_num(np.abs(ours - theirs))
    assert difference.max(initial=0.0) <= PARITY_TOLERANCE, rows[int(np.argmax(difference))]


def test_verification_rows_match_pypmml(engines):
    spec, compiled, reference = engines
    check = verification(spec.pmml_text, spec.output_field)
    assert_parity(compiled, reference, check.inputs)
    assert compiled.verify(check) < check.precision


def test_sample_with_missing_halves_and_boundaries_matches_pypmml(engines):
    spec, compiled, reference = engines
    rows = sample_rows(2500, seed=7, splits=split_values(spec.pmml_text))
    assert sum(row["age"] is None for row in rows) > 300 and sum(row["cat0"] is None for row in rows) > 300
    assert_parity(compiled, reference, rows)


def test_every_split_value_and_its_neighbours_match_pypmml(engines):
    spec, compiled, reference = engines
    base = sample_rows(3, seed=1, splits={})
    rows = [
        {**row, field: value}
        for field, values in split_values(spec.pmml_text).items()
        for split in values
        for value in (math.nextafter(split, -math.inf), split, math.nextafter(split, math.inf))
        for row in base
    ]
    assert rows
    assert_parity(compiled, reference, rows)


def field_values(splits):
    near = [v for s in splits for v in (s, math.nextafter(s, -math.inf), math.nextafter(s, math.inf))]
    return st.one_of(
        st.none(),
        st.sampled_from(near or [0.0]),
        st.sampled_from([0, 1, 0.0, 1.0, -0.0, 0.5, 2.0, 120]),
        st.floats(allow_nan=True, allow_infinity=True),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_records_match_pypmml(engines, data):
    spec, compiled, reference = engines
    splits = split_values(spec.pmml_text)
    rows = data.draw(
        st.lists(
            st.fixed_dictionaries({name: field_values(splits.get(name, [])) for name in compiled.ensemble.fields}),
            min_size=1,
            max_size=30,
        )
    )
    assert_parity(compiled, reference, rows)


def test_batch_equals_one_record_at_a_time_exactly(engines):
    """Batches are scored in chunks, a lone record by its own path: the same bits either
    way, whatever the batch size and wherever the chunks end (a last chunk of one record
    included)."""
    spec, compiled, _ = engines
    chunk = compiled.ensemble._chunk
    rows = sample_rows(max(500, 2 * chunk + 1), seed=3, splits=split_values(spec.pmml_text))
    one_by_one = np.array([compiled.score(row) for row in rows])
    for size in sorted({1, 2, 3, chunk - 1, chunk, chunk + 1, len(rows)}):
        assert np.array_equal(one_by_one[:size], compiled.score_batch(rows[:size]), equal_nan=True), size


def test_missing_as_none_nan_or_absent_scores_the_same(engines):
    spec, compiled, reference = engines
    fields = compiled.ensemble.fields
    base = sample_rows(1, seed=5, splits={})[0]
    rows = [
        {},
        dict.fromkeys(fields),
        dict.fromkeys(fields, math.nan),
        {**base, fields[0]: None},
        {**base, fields[0]: math.nan},
        {k: v for k, v in base.items() if k != fields[0]},
    ]
    scores = compiled.score_batch(rows)
    assert len(set(scores[:3].tolist())) == 1 and len(set(scores[3:].tolist())) == 1
    assert np.array_equal(scores, [compiled.score(row) for row in rows])
    assert_parity(compiled, reference, rows)


# --- random ensembles: every supported construct against pypmml ----------------------------

FIELDS = {"age": (18.0, 30.5, 0.1 + 0.2), "man": (0.5, 1.0), "cat1": (1.0, 1e-300)}
OPERATORS = ("lessThan", "lessOrEqual", "greaterThan", "greaterOrEqual", "equal", "notEqual")


def pmml(trees: str, rescale: str = 'rescaleConstant="-0.25"') -> str:
    """A binary xgboost-style ensemble over FIELDS, as sklearn2pmml lays it out."""
    fields = "".join(
        f'<DataField name="{name}" optype="continuous" dataType="float"><Value value="NaN" property="missing"/>'
        f"</DataField>"
        for name in FIELDS
    )
    schema = "".join(f'<MiningField name="{name}"/>' for name in FIELDS)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<Header/>
<DataDictionary>
<DataField name="y" optype="categorical" dataType="integer"><Value value="0"/><Value value="1"/></DataField>
{fields}
</DataDictionary>
<MiningModel functionName="classification">
<MiningSchema><MiningField name="y" usageType="target"/>{schema}</MiningSchema>
<Segmentation multipleModelMethod="modelChain" missingPredictionTreatment="returnMissing">
<Segment id="1"><True/>
<MiningModel functionName="regression">
<MiningSchema>{schema}</MiningSchema>
<Output><OutputField name="xgbValue" optype="continuous" dataType="float" isFinalResult="false"/></Output>
<Targets><Target {rescale}/></Targets>
<Segmentation multipleModelMethod="sum" missingPredictionTreatment="returnMissing">{trees}</Segmentation>
</MiningModel>
</Segment>
<Segment id="2"><True/>
<RegressionModel functionName="classification" normalizationMethod="logit">
<MiningSchema><MiningField name="xgbValue"/></MiningSchema>
<Output>
<OutputField name="probability(0)" optype="continuous" dataType="float" feature="probability" value="0"/>
<OutputField name="probability(1)" optype="continuous" dataType="float" feature="probability" value="1"/>
</Output>
<RegressionTable intercept="0.0" targetCategory="1">
<NumericPredictor name="xgbValue" coefficient="1.0"/></RegressionTable>
<RegressionTable intercept="0.0" targetCategory="0"/>
</RegressionModel>
</Segment>
</Segmentation>
</MiningModel>
</PMML>"""


def tree_model(root: str, attributes: str = 'noTrueChildStrategy="returnLastPrediction"') -> str:
    return (
        f'<Segment><True/><TreeModel functionName="regression" {attributes}>'
        f"<MiningSchema>{''.join(f'<MiningField name={chr(34)}{n}{chr(34)}/>' for n in FIELDS)}</MiningSchema>"
        f"{root}</TreeModel></Segment>"
    )


@st.composite
def predicates(draw, field=None):
    kind = draw(st.sampled_from(["compare"] * 6 + ["missing", "True", "False"]))
    if kind in ("True", "False"):
        return f"<{kind}/>"
    name = field or draw(st.sampled_from(sorted(FIELDS)))
    if kind == "missing":
        return f'<SimplePredicate field="{name}" operator="{draw(st.sampled_from(["isMissing", "isNotMissing"]))}"/>'
    value = draw(st.sampled_from(FIELDS[name]))
    return f'<SimplePredicate field="{name}" operator="{draw(st.sampled_from(OPERATORS))}" value="{value!r}"/>'


@st.composite
def trees(draw):
    """A random TreeModel; with defaultChild the children of a node test one field."""
    default_child = draw(st.booleans())
    ids = itertools.count(1)

    def node(predicate: str, depth: int) -> tuple[str, int]:
        number = next(ids)
        field = draw(st.sampled_from(sorted(FIELDS))) if default_child else None
        width = draw(st.integers(0, 3 if depth < 3 else 0))
        children = [node(draw(predicates(field)), depth + 1) for _ in range(width)]
        default = ""
        if default_child and children and draw(st.booleans()):
            default = f' defaultChild="{draw(st.sampled_from([child_id for _, child_id in children]))}"'
        score = draw(st.one_of(st.floats(-1, 1, allow_subnormal=False), st.none() if depth else st.just(0.5)))
        scored = "" if score is None else f' score="{score!r}"'
        return f'<Node id="{number}"{scored}{default}>{predicate}{"".join(xml for xml, _ in children)}</Node>', number

    strategy = ' missingValueStrategy="defaultChild"' if default_child else ""
    no_true_child = draw(st.sampled_from(["", ' noTrueChildStrategy="returnLastPrediction"']))
    return tree_model(node("<True/>", 0)[0], f"{strategy}{no_true_child}")


def reference_scorer(text: str, output_field: str = OUTPUT) -> PypmmlScorer:
    return PypmmlScorer(ModelSpec("t", "1", text, hashlib.sha256(text.encode()).hexdigest(), output_field, 0.5))


rows_over_fields = st.lists(
    st.fixed_dictionaries({name: field_values(values) for name, values in FIELDS.items()}), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(forest=st.lists(trees(), min_size=1, max_size=3), rows=rows_over_fields)
def test_random_trees_match_pypmml(forest, rows):
    text = pmml("".join(forest))
    try:
        ensemble = TreeEnsemble.from_pmml(text, OUTPUT)
    except ModelError as err:
        assert "no tree of the model tests any input" in str(err)
        return
    reference = reference_scorer(text)
    try:
        ours, theirs = ensemble.score_rows(rows), reference.score_batch(rows)
    finally:
        reference.close()
    assert np.array_equal(np.isnan(ours), np.isnan(theirs)), (ours, theirs)
    assert np.nan_to_num(np.abs(ours - theirs)).max() <= PARITY_TOLERANCE


def test_rescale_factor_logit_coefficients_and_the_other_category_match_pypmml():
    root = (
        '<Node score="0.5"><True/><Node score="-1.25"><SimplePredicate field="age" operator="lessThan" '
        'value="30.5"/></Node><Node score="2.0"><SimplePredicate field="man" operator="equal" value="1.0"/>'
        "</Node></Node>"
    )
    text = (
        pmml(tree_model(root), rescale='rescaleFactor="1.5" rescaleConstant="0.3"')
        .replace('intercept="0.0" targetCategory="1"', 'intercept="-0.7" targetCategory="1"')
        .replace('coefficient="1.0"', 'coefficient="0.8"')
    )
    rows = [{"age": a, "man": m, "cat1": None} for a in (None, 20.0, 30.5, 40.0) for m in (None, 0.0, 1.0)]
    for output_field in ("probability(1)", "probability(0)"):
        reference = reference_scorer(text, output_field)
        try:
            theirs = reference.score_batch(rows)
        finally:
            reference.close()
        ours = TreeEnsemble.from_pmml(text, output_field).score_rows(rows)
        assert np.abs(ours - theirs).max() <= PARITY_TOLERANCE
        assert len(set(theirs.tolist())) == 3  # all three nodes reached


def test_tree_scores_add_up_in_document_order_from_zero():
    """(((0 + 1e16) + 1) + 1) ... - 1e16 is 0.0 in doubles: each 1 is lost against 1e16. Any
    other order (numpy's pairwise sum, say) keeps some of the ones; pypmml keeps none."""

    def constant(score: float) -> str:
        return tree_model(
            f'<Node score="{score!r}"><True/><Node score="{score!r}">'
            '<SimplePredicate field="age" operator="lessThan" value="200.0"/></Node></Node>'
        )

    text = pmml("".join(constant(score) for score in [1e16, *[1.0] * 15, -1e16]), rescale='rescaleConstant="0.0"')
    rows = [{"age": age, "man": None, "cat1": None} for age in (None, 20.0, 300.0, 20.0)]
    ensemble = TreeEnsemble.from_pmml(text, OUTPUT)
    reference = reference_scorer(text)
    try:
        theirs = reference.score_batch(rows)
    finally:
        reference.close()
    assert theirs.tolist() == [0.5] * 4
    assert ensemble.score_rows(rows).tolist() == [ensemble.score(row) for row in rows] == [0.5] * 4


def test_compilation_proves_each_tree_ends_every_record_on_exactly_one_node():
    """Every node's ways on are checked; the check itself, on a whole tree's outcomes."""
    root = (
        '<Node score="0"><True/>'
        '<Node score="1"><SimplePredicate field="man" operator="lessThan" value="0.5"/></Node>'
        '<Node score="2"><SimplePredicate field="man" operator="lessThan" value="1.0"/></Node></Node>'
    )
    ensemble = parse(pmml(tree_model(root)), OUTPUT)
    buckets = _Buckets(ensemble)
    conditions = [condition for condition, _ in _outcomes(ensemble.trees[0], buckets, "tree 1")]
    _check_partition(conditions, buckets, "tree 1")
    assert buckets.count("man") == 4 and buckets.full("man") == 0b1111  # missing, < 0.5, < 1.0, >= 1.0
    gap = conditions[:-1]
    overlap = conditions + conditions[:1]
    overlap_and_gap = [{"man": 0b0011}, {"man": 0b0110}]  # sizes add up to 4 all the same
    for broken in (gap, overlap, overlap_and_gap):
        with pytest.raises(ModelError, match=r"tree 1: the compiled tree does not end every record on exactly one"):
            _check_partition(broken, buckets, "tree 1")


def test_a_compiler_bug_letting_two_children_match_is_caught_while_compiling(monkeypatch):
    honest = job.tree_engine._first_true_choices

    def any_true_child(node, buckets):  # forgets that the first TRUE child wins
        choices, end = honest(node, buckets)
        return [constraints[-1:] for constraints in choices], end

    monkeypatch.setattr(job.tree_engine, "_first_true_choices", any_true_child)
    with pytest.raises(ModelError, match=r"tree \d+[.\d]*: the compiled tree does not end every record on exactly"):
        TreeEnsemble.from_pmml(FIXTURE_TEXT, OUTPUT)


def test_a_model_whose_masks_would_not_fit_is_refused(monkeypatch):
    compiled = TreeEnsemble.from_pmml(FIXTURE_TEXT, OUTPUT)
    monkeypatch.setattr(job.tree_engine, "MAX_MASK_BYTES", compiled.nbytes // 2)
    with pytest.raises(
        ModelError,
        match=r"an ensemble whose compiled masks need [\d.,]+ MiB .* is not supported by "
        r"the compiled engine \(model.engine: pypmml",
    ):
        TreeEnsemble.from_pmml(FIXTURE_TEXT, OUTPUT)


# --- refusals --------------------------------------------------------------------------------

FIXTURE_TEXT = (FIXTURES / "model.pmml").read_text()
FIRST_PREDICATE = re.search(r"<SimplePredicate [^>]*/>", FIXTURE_TEXT).group(0)
FIRST_TREE_MODEL = re.search(r"<TreeModel [^>]*>", FIXTURE_TEXT).group(0)


def edited(old: str, new: str) -> str:
    assert old in FIXTURE_TEXT, old
    return FIXTURE_TEXT.replace(old, new, 1)


UNSUPPORTED = {
    "compound predicate": (
        edited(
            FIRST_PREDICATE,
            f'<CompoundPredicate booleanOperator="and">{FIRST_PREDICATE}{FIRST_PREDICATE}</CompoundPredicate>',
        ),
        "<CompoundPredicate> inside <Node>",
    ),
    "set predicate": (
        edited(
            FIRST_PREDICATE,
            '<SimpleSetPredicate field="age" booleanOperator="isIn">'
            '<Array type="real">1 2</Array></SimpleSetPredicate>',
        ),
        "<SimpleSetPredicate>",
    ),
    "last prediction": (
        edited(FIRST_TREE_MODEL, FIRST_TREE_MODEL[:-1] + ' missingValueStrategy="lastPrediction">'),
        "missingValueStrategy='lastPrediction'",
    ),
    "weighted confidence": (
        edited(FIRST_TREE_MODEL, FIRST_TREE_MODEL[:-1] + ' missingValueStrategy="weightedConfidence">'),
        "missingValueStrategy='weightedConfidence'",
    ),
    "local transformations": (
        edited(FIRST_TREE_MODEL, FIRST_TREE_MODEL + "<LocalTransformations/>"),
        "<LocalTransformations> inside <TreeModel>",
    ),
    "transformation dictionary": (
        edited("</DataDictionary>", "</DataDictionary><TransformationDictionary/>"),
        "<TransformationDictionary> inside <PMML>",
    ),
    "interval": (
        edited(
            '<DataField name="age" optype="continuous" dataType="float">',
            '<DataField name="age" optype="continuous" dataType="float">'
            '<Interval closure="closedClosed" leftMargin="0" rightMargin="120"/>',
        ),
        "<Interval> inside",
    ),
    "integer input": (
        edited(
            '<DataField name="age" optype="continuous" dataType="float">',
            '<DataField name="age" optype="continuous" dataType="integer">',
        ),
        "dataType='integer'",
    ),
    "replacement value": (
        edited('<MiningField name="age"/>', '<MiningField name="age" missingValueReplacement="40"/>'),
        "attribute missingValueReplacement='40'",
    ),
    "averaging": (
        edited('multipleModelMethod="sum"', 'multipleModelMethod="average"'),
        "multipleModelMethod='average'",
    ),
    "softmax": (
        edited('normalizationMethod="logit"', 'normalizationMethod="softmax"'),
        "normalizationMethod='softmax'",
    ),
    "non-finite split": (
        edited(FIRST_PREDICATE, re.sub(r'value="[^"]*"', 'value="Infinity"', FIRST_PREDICATE)),
        "non-finite split value 'Infinity'",
    ),
}


def test_default_child_over_children_testing_different_fields_is_refused():
    root = (
        '<Node id="1" score="0" defaultChild="2"><True/>'
        '<Node id="2" score="1"><SimplePredicate field="age" operator="lessThan" value="18.0"/></Node>'
        '<Node id="3" score="2"><SimplePredicate field="man" operator="lessThan" value="1.0"/></Node></Node>'
    )
    with pytest.raises(ModelError, match="defaultChild among children that test different fields"):
        TreeEnsemble.from_pmml(pmml(tree_model(root, 'missingValueStrategy="defaultChild"')), OUTPUT)


CORRUPTED = {
    "predicate on an unknown field": (
        edited(FIRST_PREDICATE, FIRST_PREDICATE.replace('field="', 'field="x', 1)),
        "which is not an input of the model (corrupted tree?)",
    ),
    "score that is not a number": (
        re.sub(r'<Node score="[^"]*"', '<Node score="0.1.2"', FIXTURE_TEXT, count=1),
        "score '0.1.2' is not a number (corrupted model?)",
    ),
    "node without a predicate": (edited(FIRST_PREDICATE, ""), "a Node without a predicate (corrupted tree?)"),
    "two predicates": (edited(FIRST_PREDICATE, FIRST_PREDICATE * 2), "more than one predicate (corrupted tree?)"),
    "no trees": (
        re.sub(
            r"<Segment id=\"\d+\">\s*<True/>\s*<TreeModel .*?</TreeModel>\s*</Segment>", "", FIXTURE_TEXT, flags=re.S
        ),
        "no trees",
    ),
}


@pytest.mark.parametrize(
    "kind, name", [("unsupported", n) for n in sorted(UNSUPPORTED)] + [("corrupted", n) for n in sorted(CORRUPTED)]
)
def test_unsupported_or_corrupted_tree_is_refused_with_a_clear_message(kind, name):
    """Unsupported constructs also point at pypmml, which can score them; corruption does not."""
    text, message = (UNSUPPORTED if kind == "unsupported" else CORRUPTED)[name]
    with pytest.raises(ModelError) as refused:
        TreeEnsemble.from_pmml(text, OUTPUT)
    assert message in str(refused.value)
    pointer = "not supported by the compiled engine (model.engine: pypmml" in str(refused.value)
    assert pointer == (kind == "unsupported")


def test_default_child_that_is_not_a_child_is_refused():
    root = (
        '<Node id="1" score="0" defaultChild="9"><True/>'
        '<Node id="2" score="1"><SimplePredicate field="age" operator="lessThan" value="18.0"/></Node></Node>'
    )
    with pytest.raises(ModelError, match="defaultChild '9' is none of its children"):
        TreeEnsemble.from_pmml(pmml(tree_model(root, 'missingValueStrategy="defaultChild"')), OUTPUT)


def test_altered_tree_fails_the_embedded_verification(fixture_model):
    pmml_path, meta_path = fixture_model
    text = pmml_path.read_text()
    start, end = text.index("<TreeModel"), text.index("</TreeModel>")
    shifted = re.sub(r'score="([^"]*)"', lambda m: f'score="{float(m.group(1)) + 0.5!r}"', text[start:end])
    pmml_path.write_text(text[:start] + shifted + text[end:])
    meta_path.write_text(meta_path.read_text().replace('"pmml_sha256"', '"unpinned"'))
    with pytest.raises(ModelError, match="verification row"):
        open_scorer(load_spec(pmml_path, meta_path), "compiled")


def test_a_model_whose_trees_test_nothing_is_refused():
    with pytest.raises(ModelError, match="no tree of the model tests any input"):
        TreeEnsemble.from_pmml(pmml(tree_model('<Node score="0.5"><True/></Node>')), OUTPUT)


def test_unknown_output_field_is_refused():
    with pytest.raises(ModelError, match=re.escape("no probability output 'probability(2)'")):
        TreeEnsemble.from_pmml(FIXTURE_TEXT, "probability(2)")
