"""job/pmml.py: a PMML that is not well-formed, that the messages cannot feed, or that has no
verification data is refused."""

import pytest

from job.engines import open_scorer
from job.pmml import ModelError, verify_scores
from tests.support.fixtures import unpinned


def test_corrupt_pmml_is_refused(fixture_model):
    spec = unpinned(fixture_model, lambda text: text[: len(text) // 2])
    with pytest.raises(ModelError, match="not well-formed XML"):
        open_scorer(spec)


def test_model_without_verification_data_is_refused(fixture_model):
    def strip(text):
        start, end = text.index("<ModelVerification"), text.index("</ModelVerification>")
        return text[:start] + text[end + len("</ModelVerification>") :]

    with pytest.raises(ModelError, match="no verification data"):
        open_scorer(unpinned(fixture_model, strip))


def test_model_with_inputs_the_messages_lack_is_refused(fixture_model):
    spec = unpinned(fixture_model, lambda text: text.replace('name="age"', 'name="income"'))
    with pytest.raises(ModelError, match="input fields the messages do not carry"):
        open_scorer(spec)


def test_verify_scores_rule():
    assert verify_scores([0.5, 0.0], [0.5000001, 1e-17], precision=1e-6, zero=1e-16) == pytest.approx(1e-7)
    with pytest.raises(ModelError, match="row 0"):
        verify_scores([0.5], [0.51], precision=1e-6, zero=1e-16)
    with pytest.raises(ModelError, match="no score"):
        verify_scores([0.5], [None], precision=1e-6, zero=1e-16)
