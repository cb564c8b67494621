"""Kafka security settings from the configuration reach both the sources and the sinks.

tansu 0.6.0 cannot serve SASL or TLS in a way a test can set up (SASL needs users that
only an authenticated client can create, and its in-memory store starts empty), so the
test watches the wire instead: the job is submitted with the README's SASL_SSL settings
(as SILOCOMPRO__KAFKA__SECURITY__* variables), its sources reach the broker through one
job.local.proxy and its sinks through another, and every connection on both must open
with a TLS ClientHello (0x16 0x03) rather than a plaintext Kafka request. The SASL
password must not show up in any log or in the submission's output.
"""
from __future__ import annotations

import time

import pytest

from job.local.proxy import TcpProxy
from tests.reliability.conftest import TOKEN

pytestmark = pytest.mark.slow

PASSWORD = "sasl-" + TOKEN[::-1]
SECURITY = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
                        f'username="targeting" password="{PASSWORD}";',
}
TLS_RECORD = b"\x16\x03"


def env_overrides(properties: dict[str, str]) -> dict[str, str]:
    """kafka.security.<key> as SILOCOMPRO__KAFKA__SECURITY__<KEY> (dots become __)."""
    return {"SILOCOMPRO__KAFKA__SECURITY__" + key.upper().replace(".", "__"): value for key, value in properties.items()}


@pytest.fixture(scope="module")
def wire(stack, new_job):
    host, port = stack.bootstrap.split(":")
    sources, sinks = TcpProxy(host, int(port)).start(), TcpProxy(host, int(port)).start()
    try:
        job = new_job(f"kafka.sink_properties.bootstrap.servers=127.0.0.1:{sinks.port}",
                      env={"KAFKA_BOOTSTRAP": f"127.0.0.1:{sources.port}", **env_overrides(SECURITY)})
        job.submit(wait=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (sources.first_bytes and sinks.first_bytes):
            time.sleep(0.5)
        job.cancel()
        yield {"sources": list(sources.first_bytes), "sinks": list(sinks.first_bytes), "job": job}
    finally:
        sources.close()
        sinks.close()


@pytest.mark.parametrize("side", ["sources", "sinks"])
def test_every_connection_starts_with_tls(wire, side):
    assert wire[side], f"the job's {side} never connected"
    assert all(first.startswith(TLS_RECORD) for first in wire[side]), wire[side]


def test_sasl_password_is_never_logged(wire, stack):
    assert PASSWORD not in stack.logs() and PASSWORD not in wire["job"].client_output
