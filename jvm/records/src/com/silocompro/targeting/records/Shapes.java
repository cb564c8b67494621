package com.silocompro.targeting.records;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * The common message shapes of job/shapes.py, recognised on the JVM so that the Python
 * operators never see a message the shapes cover. The rules are job/shapes.py's, and only
 * an exact match is a record: anything else returns null and goes to the Python parser
 * (job/inputs.py), which alone decides rejections. So this class never rejects, and a
 * payload it is unsure of costs a Python parse, never a different answer. Parity with
 * job/shapes.py is tested on the reliability corpus and on generated payloads
 * (tests/unit/test_jvm_shapes.py, through {@link #main}).
 */
public final class Shapes {
    private static final byte[] UUID = "uuid".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] PRODUCTS_KEY = "products".getBytes(StandardCharsets.US_ASCII);
    private static final byte[][] DEMOGRAPHIC_NAMES = {
        UUID, "age".getBytes(StandardCharsets.US_ASCII), "man".getBytes(StandardCharsets.US_ASCII),
        "woman".getBytes(StandardCharsets.US_ASCII)
    };

    private Shapes() {}

    /** A history: {uuid, product bits 0-63, product bits 64-108}, or null. */
    public static long[] historic(byte[] p) {
        Cursor c = new Cursor(p);
        long uuid = -1;
        boolean uuidFirst;
        c.ws();
        if (!c.take('{')) {
            return null;
        }
        c.ws();
        int keyStart = c.at;
        if (c.quoted(UUID)) {  // {"uuid": N, "products": {
            uuidFirst = true;
            uuid = c.pair();
            if (uuid < 0 || !c.wsTake(',')) {
                return null;
            }
            c.ws();
            if (!c.quoted(PRODUCTS_KEY)) {
                return null;
            }
        } else {
            c.at = keyStart;
            uuidFirst = false;
            if (!c.quoted(PRODUCTS_KEY)) {  // {"products": {...}, "uuid": N}
                return null;
            }
        }
        if (!c.wsTake(':') || !c.wsTake('{')) {
            return null;
        }
        int entries = c.at;
        // The last brace closes the message, the one before it products (uuid has none).
        int last = lastIndexOf(p, entries, p.length);
        int close = last < 0 ? -1 : lastIndexOf(p, entries, last);
        if (close < 0) {
            return null;
        }
        c.at = close + 1;
        if (uuidFirst) {
            if (!c.wsTake('}')) {
                return null;
            }
        } else {
            if (!c.wsTake(',')) {
                return null;
            }
            c.ws();
            if (!c.quoted(UUID)) {
                return null;
            }
            uuid = c.pair();
            if (uuid < 0 || !c.wsTake('}')) {
                return null;
            }
        }
        c.ws();
        if (c.at != p.length) {
            return null;
        }
        long low = 0;
        long high = 0;
        int start = entries;
        for (int i = entries; i <= close; i++) {
            if (i == close || p[i] == ',') {
                int bit = entry(p, start, i);
                if (bit == -2) {
                    return null;
                }
                if (bit >= 64) {
                    high |= 1L << (bit - 64);
                } else if (bit >= 0) {
                    low |= 1L << bit;
                }
                start = i + 1;
            }
        }
        return new long[] {uuid, low, high};
    }

    /**
     * One products entry between two commas, spelt as job/shapes.py's _ENTRIES: an optional
     * space, a quoted product key, ':', an optional space, 0 or 1, an optional space. Its bit
     * if the flag is 1, -1 for a 0, -2 for anything else.
     */
    static int entry(byte[] p, int from, int to) {
        int i = from;
        if (i < to && p[i] == ' ') {
            i++;
        }
        if (i >= to || (p[i] != '"' && p[i] != '\'')) {
            return -2;
        }
        byte quote = p[i++];
        int name = i;
        while (i < to && p[i] != quote) {
            i++;
        }
        int bit = product(p, name, i);
        if (bit < 0 || i >= to) {
            return -2;
        }
        i++;  // the closing quote
        if (i >= to || p[i] != ':') {
            return -2;
        }
        i++;
        if (i < to && p[i] == ' ') {
            i++;
        }
        if (i >= to || (p[i] != '0' && p[i] != '1')) {
            return -2;
        }
        boolean set = p[i] == '1';
        i++;
        if (i < to && p[i] == ' ') {
            i++;
        }
        return i != to ? -2 : set ? bit : -1;
    }

    /**
     * The bit of the product key p[from:to], -1 if it is none: contract/schema.py's
     * PRODUCT_BITS, bit i for PRODUCT_FIELDS[i] (cat0..cat98, then u0..u9).
     */
    static int product(byte[] p, int from, int to) {
        int n = to - from;
        int digits;
        int base;
        if (n >= 4 && n <= 5 && p[from] == 'c' && p[from + 1] == 'a' && p[from + 2] == 't') {
            digits = from + 3;
            base = 0;
        } else if (n == 2 && p[from] == 'u') {
            digits = from + 1;
            base = 99;
        } else {
            return -1;
        }
        int value = 0;
        for (int i = digits; i < to; i++) {
            if (p[i] < '0' || p[i] > '9' || (i == digits && p[i] == '0' && to - digits > 1)) {
                return -1;
            }
            value = value * 10 + (p[i] - '0');
        }
        return base == 0 ? (value < 99 ? value : -1) : 99 + value;
    }

    /**
     * A demographic's four fields (uuid, age, man, woman), each once, as the record job/inputs.py
     * builds from them; null when the payload is not the shape, and also when its values are
     * not a valid record (the Python parser then gives the same rejection it gives today).
     */
    public static Demographic demographic(byte[] p) {
        Cursor c = new Cursor(p);
        String[] texts = new String[4];
        c.ws();
        if (!c.take('{')) {
            return null;
        }
        for (int k = 0; k < 4; k++) {
            if (k > 0 && !c.take(',')) {
                return null;
            }
            c.ws();
            int field = c.quotedOneOf(DEMOGRAPHIC_NAMES);
            if (field < 0 || texts[field] != null || !c.wsTake(':')) {
                return null;
            }
            c.ws();
            texts[field] = c.number();
            if (texts[field] == null) {
                return null;
            }
            c.ws();
        }
        if (!c.take('}')) {
            return null;
        }
        c.ws();
        if (c.at != p.length) {
            return null;
        }
        return Demographic.of(texts);
    }

    /** What job/inputs.py's _demographic accepts, from the shape's four number texts. */
    public static final class Demographic {
        public final long uuid;
        public final double age;
        public final int man;
        public final int woman;

        private Demographic(long uuid, double age, int man, int woman) {
            this.uuid = uuid;
            this.age = age;
            this.man = man;
            this.woman = woman;
        }

        static Demographic of(String[] texts) {
            if (texts[0].indexOf('.') >= 0 || texts[0].length() > 18) {
                return null;  // a float uuid, or one that may pass 2^63-1: Python decides
            }
            double age = Double.parseDouble(texts[1]);
            double man = Double.parseDouble(texts[2]);
            double woman = Double.parseDouble(texts[3]);
            // Python's float(age) of an integer text rounds as parseDouble does (both nearest).
            if (!(age >= 0 && age <= 120) || !flag(man) || !flag(woman) || (man == 1 && woman == 1)) {
                return null;
            }
            return new Demographic(Long.parseLong(texts[0]), age, (int) man, (int) woman);
        }

        private static boolean flag(double value) {
            return value == 0 || value == 1;
        }
    }

    private static int lastIndexOf(byte[] p, int from, int before) {
        for (int i = before - 1; i >= from; i--) {
            if (p[i] == '}') {
                return i;
            }
        }
        return -1;
    }

    /** A position in a payload and the few tokens the shapes are made of. */
    private static final class Cursor {
        final byte[] p;
        int at;

        Cursor(byte[] p) {
            this.p = p;
        }

        /** job/shapes.py's _WS: space, tab, newline, carriage return. */
        void ws() {
            while (at < p.length && (p[at] == ' ' || p[at] == '\t' || p[at] == '\n' || p[at] == '\r')) {
                at++;
            }
        }

        boolean take(char ch) {
            if (at < p.length && p[at] == ch) {
                at++;
                return true;
            }
            return false;
        }

        boolean wsTake(char ch) {
            ws();
            return take(ch);
        }

        /** "name" or 'name', the quotes matching. */
        boolean quoted(byte[] name) {
            int end = at + name.length + 2;
            if (end > p.length || (p[at] != '"' && p[at] != '\'') || p[end - 1] != p[at]) {
                return false;
            }
            for (int i = 0; i < name.length; i++) {
                if (p[at + 1 + i] != name[i]) {
                    return false;
                }
            }
            at = end;
            return true;
        }

        int quotedOneOf(byte[][] names) {
            for (int i = 0; i < names.length; i++) {
                if (quoted(names[i])) {
                    return i;
                }
            }
            return -1;
        }

        /** ': N' after a key: job/shapes.py's _UINT (0, or up to 19 digits without a leading
         * zero) as a long, -1 if absent or past 2^63-1 (Python then rejects it). */
        long pair() {
            if (!wsTake(':')) {
                return -1;
            }
            ws();
            int start = at;
            int end = digits(start);
            if (end < 0) {
                return -1;
            }
            at = end;
            try {
                return Long.parseLong(new String(p, start, end - start, StandardCharsets.US_ASCII));
            } catch (NumberFormatException tooLarge) {
                return -1;
            }
        }

        /** The end of a _UINT at ``start``, -1 if there is none. */
        int digits(int start) {
            if (start >= p.length || p[start] < '0' || p[start] > '9') {
                return -1;
            }
            if (p[start] == '0') {
                return start + 1;
            }
            int end = start;
            while (end < p.length && end - start < 19 && p[end] >= '0' && p[end] <= '9') {
                end++;
            }
            return end;
        }

        /** job/shapes.py's _NUMBER: a _UINT with an optional fraction of 1 to 17 digits. */
        String number() {
            int start = at;
            int end = digits(start);
            if (end < 0) {
                return null;
            }
            if (end < p.length && p[end] == '.') {
                int fraction = end + 1;
                int stop = fraction;
                while (stop < p.length && stop - fraction < 17 && p[stop] >= '0' && p[stop] <= '9') {
                    stop++;
                }
                if (stop == fraction) {
                    return null;
                }
                end = stop;
            }
            at = end;
            return new String(p, start, end - start, StandardCharsets.US_ASCII);
        }
    }

    /**
     * The parity tests' and the parsing benchmark's entry point (tests/unit/test_jvm_shapes.py,
     * benchmarks/parsing.py): one request per line on stdin, one answer line each, flushed at
     * once. "historic HEX" or "demographic HEX" (the payload hex-encoded): "uuid bits" (bits
     * in decimal), "uuid age man woman" (age as Java's shortest repr), or "-" when the payload
     * is not a shape. "time SIDE ROUNDS HEX,HEX,...": the messages parsed ROUNDS times after a warm-up
     * for the JIT, "median-ns-per-message unrecognised-count checksum"
     * (the checksum of the records keeps the JIT from dropping the parse).
     */
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        HexFormat hex = HexFormat.of();
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            int space = line.indexOf(' ');
            if (line.startsWith("time ")) {
                String[] parts = line.split(" ", 4);
                System.out.println(time(parts[1].equals("historic"), Integer.parseInt(parts[2]), parts[3].split(",")));
                System.out.flush();
                continue;
            }
            byte[] payload = hex.parseHex(line, space + 1, line.length());
            String answer;
            if (line.startsWith("historic ")) {
                long[] h = historic(payload);
                answer = h == null ? "-" : h[0] + " " + bits(h[1], h[2]);
            } else {
                Demographic d = demographic(payload);
                answer = d == null ? "-" : d.uuid + " " + d.age + " " + d.man + " " + d.woman;
            }
            System.out.println(answer);
            System.out.flush();
        }
    }

    /** Calls before timing: enough for the JIT's last tier (C2 compiles after ~10,000). */
    private static final int WARM_UP_CALLS = 50_000;

    private static String time(boolean historic, int rounds, String[] hexes) {
        byte[][] payloads = new byte[hexes.length][];
        for (int i = 0; i < hexes.length; i++) {
            payloads[i] = HexFormat.of().parseHex(hexes[i]);
        }
        long[] nanos = new long[rounds];
        long sink = 0;
        int unrecognised = 0;
        int warmUp = Math.max(rounds, (WARM_UP_CALLS + payloads.length - 1) / payloads.length);
        for (int round = -warmUp; round < rounds; round++) {
            unrecognised = 0;
            long started = System.nanoTime();
            for (byte[] payload : payloads) {
                Object record = historic ? historic(payload) : demographic(payload);
                if (record == null) {
                    unrecognised++;
                } else {
                    sink += record.hashCode();  // used, so the JIT cannot drop the parse
                }
            }
            if (round >= 0) {
                nanos[round] = System.nanoTime() - started;
            }
        }
        java.util.Arrays.sort(nanos);
        double perMessage = (double) nanos[rounds / 2] / payloads.length;
        return perMessage + " " + unrecognised + " " + sink;
    }

    static java.math.BigInteger bits(long low, long high) {
        return java.math.BigInteger.valueOf(high).shiftLeft(64).or(new java.math.BigInteger(Long.toUnsignedString(low)));
    }
}
