"""Generated payloads at the edges of the common message shapes (job/shapes.py): what the
specification's sample looks like, its odd spellings and byte-level mutations. Both
fast paths (job/shapes.py and the JVM's, jvm/records) are tested on them."""

from hypothesis import strategies as st

from contract.schema import PRODUCT_FIELDS
from tests.support.corpus import LIMIT

# The spellings a fast path must tell apart: both quote styles, JSON's and Python's
# constants, floats, out-of-range numbers, keys that are not features, other spacing.
ODD_FLAGS = st.sampled_from(
    ["True", "False", "true", "false", "1.0", "0.0", "2", "-1", "01", "'1'", '"1"', "None", "null", "NaN", "1e0", "+1"]
)
ODD_KEYS = st.sampled_from(["cat99", "x", "", "cat 1", "uuid", "products", "CAT1"])
QUOTES = st.sampled_from(['"', "'"])
SEPARATORS, ODD_SEPARATORS = st.sampled_from([", ", ","]), st.sampled_from([" , ", ",\n", ",  ", "\t,", ",,", " ,"])
COLONS, ODD_COLONS = st.sampled_from([": ", ":"]), st.sampled_from([" : ", ":\t", ":  ", " :", "::"])
UUIDS = st.integers(0, 2**63 - 1).map(str)
ODD_UUIDS = st.integers(2**63 - 2, 2**64).map(str) | st.sampled_from(["-5", "007", "1.5", "1e3", "'42'", "True", ""])
OUTER = st.sampled_from(["", " ", "\n", "\t \r\n", "\x0c", "\ufeff"])


@st.composite
def spec_shaped_historic(draw) -> bytes:
    """A history as the specification's sample writes it (all keys, some repeated, some
    missing, shuffled, each string in either quote style), in half the examples with a
    few odd spellings the fast path must leave to the general parser."""
    odd = draw(st.booleans())

    def either(common, rare):
        return draw(rare if odd and draw(st.integers(0, 3)) == 0 else common)

    keys = [k for k in PRODUCT_FIELDS if draw(st.integers(0, 30))]
    keys += draw(st.lists(st.sampled_from(PRODUCT_FIELDS), max_size=8))  # repeats
    keys += draw(st.lists(ODD_KEYS, max_size=2)) if odd else []
    keys = draw(st.permutations(keys))
    odd_flags = set(draw(st.lists(st.integers(0, len(keys)), max_size=2))) if odd else set()
    colon, separator = either(COLONS, ODD_COLONS), either(SEPARATORS, ODD_SEPARATORS)

    def quoted(text):
        quote = draw(QUOTES)
        return f"{quote}{text}{quote}"

    def flag(i):
        return draw(ODD_FLAGS) if i in odd_flags else str(draw(st.integers(0, 1)))

    products = "{" + separator.join(f"{quoted(k)}{colon}{flag(i)}" for i, k in enumerate(keys)) + "}"
    fields = [f"{quoted('uuid')}{colon}{either(UUIDS, ODD_UUIDS)}", f"{quoted('products')}{colon}{products}"]
    body = separator.join(draw(st.permutations(fields)))
    return (either(st.just(""), OUTER) + "{" + body + "}" + either(st.just(""), OUTER)).encode()


@st.composite
def spec_shaped_demographic(draw) -> bytes:
    odd = draw(st.booleans())

    def either(common, rare):
        return draw(rare if odd and draw(st.integers(0, 2)) == 0 else common)

    values = {
        "uuid": either(UUIDS, ODD_UUIDS),
        "age": either(st.sampled_from(["41", "0", "120", "41.5", "300"]), st.sampled_from(["1e2", "41.", "-1"])),
        "man": either(st.sampled_from(["0", "1"]), ODD_FLAGS),
        "woman": either(st.sampled_from(["0", "1"]), ODD_FLAGS),
    }
    extra = draw(st.lists(st.sampled_from(["uuid", "age", "x"]), max_size=1)) if odd else []
    keys = draw(st.permutations(list(values) + extra))
    colon, separator = either(COLONS, ODD_COLONS), either(SEPARATORS, ODD_SEPARATORS)
    quote = draw(QUOTES)
    return (
        either(st.just(""), OUTER)
        + "{"
        + separator.join(f"{quote}{k}{quote}{colon}{values.get(k, '1')}" for k in keys)
        + "}"
        + either(st.just(""), OUTER)
    ).encode()


@st.composite
def mutated(draw, messages) -> bytes:
    """A message with a few bytes inserted, deleted or replaced: the fast path's edges."""
    data = bytearray(draw(messages))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(data)))
        byte = draw(st.sampled_from(b"{}[]()'\",: \n01.-eTtx\\\x00\xff"))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert":
            data.insert(where, byte)
        elif data:
            where = min(where, len(data) - 1)
            if action == "delete":
                del data[where]
            else:
                data[where] = byte
    return bytes(data)


LIMITS = st.sampled_from([LIMIT, LIMIT, 1000, 64])
