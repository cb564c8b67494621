package com.silocompro.targeting.records;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Wire text of one input topic (ISO-8859-1, job/outputs.py) → (uuid, record) rows for the
 * join's keyBy, on the JVM; whatever {@link Shapes} does not recognise goes, untouched, to
 * {@link #UNRECOGNISED} for the Python parser (job/pipeline.py), so the Python operators
 * see only the rare message that is not in a common shape.
 *
 * <p>Records: demographic Row(uuid, age, man, woman), historic Row(uuid, low, high), the
 * product bits split in two longs (job/inputs.py reads them back).
 */
public final class ParseHalves extends ProcessFunction<String, Row> {
    public static final OutputTag<String> UNRECOGNISED = new OutputTag<>("unrecognised", Types.STRING);
    private static final long serialVersionUID = 1L;

    private final boolean historic;
    private final int maxBytes;
    private transient Counter accepted;

    public ParseHalves(String side, int maxBytes) {
        if (!side.equals("historic") && !side.equals("demographic")) {
            throw new IllegalArgumentException("side is historic or demographic, not " + side);
        }
        this.historic = side.equals("historic");
        this.maxBytes = maxBytes;
    }

    @Override
    public void open(OpenContext context) {
        // The same name as the Python parser's counter: the job's metrics sum both.
        accepted = getRuntimeContext().getMetricGroup().counter("messages_accepted");
    }

    @Override
    public void processElement(String value, Context ctx, Collector<Row> out) {
        byte[] payload = value.getBytes(StandardCharsets.ISO_8859_1);
        Row record = payload.length <= maxBytes ? record(payload) : null;
        if (record == null) {
            ctx.output(UNRECOGNISED, value);
            return;
        }
        accepted.inc();
        out.collect(Row.of(record.getField(0), record));
    }

    private Row record(byte[] payload) {
        if (historic) {
            long[] h = Shapes.historic(payload);
            return h == null ? null : Row.of(h[0], h[1], h[2]);
        }
        Shapes.Demographic d = Shapes.demographic(payload);
        return d == null ? null : Row.of(d.uuid, d.age, d.man, d.woman);
    }
}
