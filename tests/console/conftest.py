"""Fixtures of the console tests; the broker is the session's (tests/conftest.py)."""

import pytest

from tests.support.console import console_env, new_topics


@pytest.fixture
def topics(broker):
    return new_topics(broker)


@pytest.fixture
def env(broker, topics, tmp_path):
    return console_env(broker, topics, tmp_path)
