"""The fuzz corpus at the parser: every payload gets a record or a documented reason, and
every hand-written case gets the outcome the data contract promises. The same corpus goes
through the running job in test_bad_input.py."""

from collections import Counter

import pytest

from job.inputs import REASONS
from tests.support.corpus import ACCEPTED, accepted_uuids, corpus, outcome

CORPUS = corpus(seed=11, uuid_base=50_000_000)


@pytest.mark.parametrize("case", [c for c in CORPUS if c.promise], ids=lambda c: repr(c.payload[:40]))
def test_hand_written_case_gets_its_documented_outcome(case):
    assert outcome(case) == case.promise


def test_every_payload_is_a_record_or_a_documented_reason_never_a_parser_error():
    outcomes = Counter(outcome(case) for case in CORPUS)
    assert set(outcomes) <= {ACCEPTED, *REASONS} and "parser_error" not in outcomes, outcomes


def test_corpus_covers_every_reason_and_accepted_cases_are_separate_sessions():
    outcomes = Counter(outcome(case) for case in CORPUS)
    assert set(REASONS) - {"parser_error"} <= set(outcomes), outcomes
    assert len(accepted_uuids(CORPUS)) == outcomes[ACCEPTED] > 20
    assert sum(case.family == "mutated valid message" for case in CORPUS) > 300


def test_corpus_is_deterministic():
    assert corpus(seed=11, uuid_base=50_000_000) == CORPUS
