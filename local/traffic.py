"""Synthetic web sessions as the two enrichment pipelines would publish them, and the
reader that collects the job's predictions. Used by the demo, the end-to-end tests and
the benchmarks, so they all exercise the same message shapes (the reader itself is
job/topic_reader.py, which the model CLI uses too).

Messages deliberately look like the specification's sample (profile ``specification``,
the default): half strict JSON and half Python-literal style, keys in random order, and
``products`` maps with every product key (zeros included, a few left out) and repeated
keys with equal and with different values, consistently with the any-purchase-wins rule,
so the expected features stay known. Profile ``sparse`` (only the positive flags and three
zeros) is idealised, not what users send: it stays for comparison in the benchmarks.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from contract.schema import PRODUCT_FIELDS
from job.topic_reader import TopicReader

DEMOGRAPHIC, HISTORIC = "demographic", "historic"
SPECIFICATION, SPARSE = "specification", "sparse"  # historic message profiles (module docstring)
PROFILES = (SPECIFICATION, SPARSE)


@dataclass(frozen=True)
class Message:
    side: str  # DEMOGRAPHIC or HISTORIC
    uuid: Optional[int]  # None for malformed messages
    payload: bytes


@dataclass
class Plan:
    messages: list[Message]
    complete: set[int] = field(default_factory=set)  # uuids with both halves sent
    incomplete: set[int] = field(default_factory=set)  # uuids with one half only
    malformed: int = 0


def customers(n: int, seed: int, uuid_base: int) -> list[dict]:
    """n synthetic customers (contract.population), re-numbered from uuid_base so a rerun
    never collides with the join state an earlier run left behind."""
    from contract.population import population

    frame = population(n, seed=seed)
    frame["uuid"] = range(uuid_base, uuid_base + n)
    return frame.to_dict("records")


def _encode(obj: dict, rng: random.Random) -> bytes:
    """Half strict JSON, half the specification's Python-literal style."""
    return (json.dumps(obj) if rng.random() < 0.5 else repr(obj)).encode()


def demographic_message(customer: dict, rng: random.Random) -> bytes:
    fields = [
        ("uuid", int(customer["uuid"])),
        ("age", int(customer["age"])),
        ("man", int(customer["man"])),
        ("woman", int(customer["woman"])),
    ]
    rng.shuffle(fields)
    return _encode(dict(fields), rng)


def historic_message(customer: dict, rng: random.Random, profile: str = SPECIFICATION) -> bytes:
    """The customer's product flags as one of the PROFILES writes them, shuffled, in one
    quote style (half strict JSON, half Python literal).

    Repeats are written as text, since a Python dict cannot hold them: a 1 repeated as 0
    (or 1) still means 1 under the any-purchase-wins rule, a 0 is repeated as 0.
    """
    pairs = (_specification_products if profile == SPECIFICATION else _sparse_products)(customer, rng)
    rng.shuffle(pairs)
    quote = '"' if rng.random() < 0.5 else "'"
    products = ", ".join(f"{quote}{k}{quote}: {v}" for k, v in pairs)
    uuid_first = rng.random() < 0.5
    parts = [f"{quote}uuid{quote}: {int(customer['uuid'])}", f"{quote}products{quote}: {{{products}}}"]
    return ("{" + ", ".join(parts if uuid_first else parts[::-1]) + "}").encode()


def _specification_products(customer: dict, rng: random.Random) -> list[tuple[str, int]]:
    """Every key but up to three zeros; a few repeated with their own value, and a
    purchase repeated as 0, as in the specification's ``'cat91': 1, 'cat91': 0``."""
    zeros = [k for k in PRODUCT_FIELDS if not customer[k]]
    omitted = set(rng.sample(zeros, k=min(len(zeros), rng.randint(1, 3))))
    pairs = [(k, int(customer[k])) for k in PRODUCT_FIELDS if k not in omitted]
    pairs += [(k, v) for k, v in rng.sample(pairs, k=rng.randint(1, 4))]
    ones = [k for k in PRODUCT_FIELDS if customer[k]]
    pairs += [(k, 0) for k in rng.sample(ones, k=min(len(ones), rng.randint(1, 2)))]
    return pairs


def _sparse_products(customer: dict, rng: random.Random) -> list[tuple[str, int]]:
    """Positive flags, three zeros, now and then a repeat: idealised, not what users send."""
    ones = [k for k in PRODUCT_FIELDS if customer[k]]
    pairs = [(k, 1) for k in ones] + [(k, 0) for k in rng.sample([k for k in PRODUCT_FIELDS if not customer[k]], k=3)]
    if ones and rng.random() < 0.3:
        pairs.append((rng.choice(ones), rng.choice((0, 1))))
    return pairs


def malformed_messages(uuid: int) -> list[tuple[str, bytes]]:
    """One of each kind of invalid payload the job must dead-letter (and survive)."""
    return [
        (DEMOGRAPHIC, b'{"uuid": %d, "age": ' % uuid),
        (DEMOGRAPHIC, b"not json at all"),
        (HISTORIC, b"\xff\xfe\x00 not utf-8"),
        (HISTORIC, b"[" * 5000),
        (DEMOGRAPHIC, b'{"age": 41, "man": 1, "woman": 0}'),
        (DEMOGRAPHIC, b'{"uuid": "abc", "age": 41, "man": 1, "woman": 0}'),
        (DEMOGRAPHIC, b'{"uuid": %d, "age": 300, "man": 1, "woman": 0}' % uuid),
        (DEMOGRAPHIC, b'{"uuid": %d, "age": NaN, "man": 1, "woman": 0}' % uuid),
        (DEMOGRAPHIC, b'{"uuid": %d, "age": 41, "man": 1, "woman": 1}' % uuid),
        (HISTORIC, b'{"uuid": %d, "products": [1, 2]}' % uuid),
        (HISTORIC, b'{"uuid": %d, "products": {"cat1": 7}}' % uuid),
        (HISTORIC, b""),
        (HISTORIC, b'{"uuid": %d, "products": {"cat1": 1, "pad": "%s"}}' % (uuid, b"x" * 70_000)),
        (DEMOGRAPHIC, b"__import__('os').system('echo pwned')"),
    ]


def plan_sessions(
    customer_rows: list[dict],
    seed: int,
    malformed_share: float = 0.0,
    incomplete_share: float = 0.0,
    paired: bool = False,
    profile: str = SPECIFICATION,
) -> Plan:
    """Both halves of every session in random order across the two topics, plus
    ``malformed_share`` (of all messages) invalid payloads mixed in.

    ``paired``: a session's two halves are sent one after the other (in random order),
    as the enrichment pipelines publish them for a live session; otherwise they are
    shuffled across the whole plan, so that many arrive far apart (tests of the join)
    and, at a paced rate, beyond the join's timeout. ``profile``: how historic messages
    are written (PROFILES)."""
    rng = random.Random(seed)
    plan = Plan(messages=[])
    units: list[list[Message]] = []  # what stays together when the plan is shuffled
    for customer in customer_rows:
        uuid = int(customer["uuid"])
        halves = [
            Message(DEMOGRAPHIC, uuid, demographic_message(customer, rng)),
            Message(HISTORIC, uuid, historic_message(customer, rng, profile)),
        ]
        if rng.random() < incomplete_share:
            units.append([rng.choice(halves)])
            plan.incomplete.add(uuid)
        else:
            if paired:
                rng.shuffle(halves)
                units.append(halves)
            else:
                units += [[half] for half in halves]
            plan.complete.add(uuid)
    sent = sum(map(len, units))
    n_bad = round(sent * malformed_share / (1 - malformed_share)) if malformed_share else 0
    kinds = malformed_messages(uuid=0)
    for i in range(n_bad):
        side, payload = kinds[i % len(kinds)]
        units.append([Message(side, None, payload)])
    plan.malformed = n_bad
    rng.shuffle(units)
    plan.messages = [message for unit in units for message in unit]
    return plan


def send(producer, topic: str, message: Message) -> None:
    """Produce keyed by uuid; when the local queue is full, let it drain and try again."""
    key = None if message.uuid is None else str(message.uuid).encode()
    while True:
        try:
            producer.produce(topic, key=key, value=message.payload)
            return
        except BufferError:
            producer.poll(0.05)


def produce(
    bootstrap: str,
    topics: dict[str, str],
    messages: Iterable[Message],
    rate: Optional[float] = None,
    progress: Optional[Callable[[int], None]] = None,
    extra: Optional[dict] = None,
) -> dict[int, float]:
    """Send messages (keyed by uuid) at ``rate`` messages/s (None: as fast as possible).

    Returns each uuid's last send time, the start of its decision latency.
    """
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, **(extra or {})})
    sent_at: dict[int, float] = {}
    start = time.monotonic()
    for i, message in enumerate(messages):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        send(producer, topics[message.side], message)
        if message.uuid is not None:
            sent_at[message.uuid] = time.time()
        producer.poll(0)
        if progress and i % 1000 == 0:
            progress(i)
    remaining = producer.flush(30)
    if remaining:
        raise RuntimeError(f"{remaining} messages not delivered to {bootstrap}")
    return sent_at


def wait_for_answer(
    bootstrap: str,
    topics: dict[str, str],
    reader: TopicReader,
    uuid: int,
    timeout: float,
    every: float = 3.0,
    extra: Optional[dict] = None,
) -> Optional[dict]:
    """Publish a probe session (``uuid`` outside any run) every ``every`` seconds until the
    job writes something for it to ``reader``'s topic; its JSON body, or None on timeout.

    Traffic sent before the job serves would measure the job's start-up, not the job.
    """
    from confluent_kafka import Producer

    probe = customers(1, seed=0, uuid_base=uuid)[0]
    rng, producer, give_up = (
        random.Random(0),
        Producer({"bootstrap.servers": bootstrap, **(extra or {})}),
        time.monotonic() + timeout,
    )
    while time.monotonic() < give_up:
        send(producer, topics[DEMOGRAPHIC], Message(DEMOGRAPHIC, uuid, demographic_message(probe, rng)))
        send(producer, topics[HISTORIC], Message(HISTORIC, uuid, historic_message(probe, rng)))
        producer.flush(10)
        for _, message in reader.poll(every):
            try:
                body = json.loads(message.value())
            except ValueError:
                continue
            if isinstance(body, dict) and body.get("uuid") == uuid:
                return body
    return None


def collect_predictions(
    reader: TopicReader, wanted: set[int], timeout: float, progress: Optional[Callable[[int], None]] = None
) -> dict[int, list[tuple[float, dict]]]:
    """Predictions for ``wanted`` uuids until all arrived or ``timeout`` seconds of nothing new."""
    found: dict[int, list[tuple[float, dict]]] = {}
    read = 0

    def enough(pairs: list) -> bool:
        nonlocal read
        for received, message in pairs[read:]:
            body = json.loads(message.value())
            if body.get("uuid") in wanted:
                found.setdefault(body["uuid"], []).append((received, body))
        read = len(pairs)
        if progress:
            progress(len(found))
        return len(found) >= len(wanted)

    enough(reader.read_until(enough, timeout))  # once more for what arrived while lingering
    return found


def headers(message) -> dict[str, str]:
    """A consumed record's Kafka headers as text: on a prediction, ``model_name`` and
    ``model_version`` (job.outputs) say which model version decided it."""
    return {name: value.decode() for name, value in (message.headers() or [])}
