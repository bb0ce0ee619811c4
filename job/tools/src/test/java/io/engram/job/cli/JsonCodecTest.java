package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.engram.job.cli.JsonCodec.JsonFormatException;
import io.engram.job.cli.JsonCodec.Type;
import io.engram.schemas.Associate;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.Forget;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class JsonCodecTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long NOW = 1_700_000_000_000L;

    // ------------------------------------------------------------------------------------------------ round trips

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        // every payload type, every optional field given
        "{\"space\":\"s1\",\"event_id\":\"e1\",\"timestamp_ms\":123,\"payload\":{\"type\":\"store\",\"memory_id\":"
                + "\"m1\",\"strength\":0.5,\"stability_s\":3600.0,\"content\":\"hello\",\"embedding\":[0.1,-0.25,3.0E-5]}}",
        "{\"space\":\"s1\",\"event_id\":\"e2\",\"timestamp_ms\":124,\"payload\":{\"type\":\"reinforce\",\"memory_id\":\"m1\"}}",
        "{\"space\":\"s1\",\"event_id\":\"e3\",\"timestamp_ms\":125,\"payload\":{\"type\":\"associate\",\"from_id\":\"a\","
                + "\"to_id\":\"b\",\"weight\":0.5,\"bidirectional\":true}}",
        "{\"space\":\"s1\",\"event_id\":\"e4\",\"timestamp_ms\":126,\"payload\":{\"type\":\"forget\",\"memory_id\":\"m1\"}}"})
    void eventsRoundTrip(String json) throws Exception {
        roundTrip(Type.EVENT, json);
    }

    @Test
    void queryRoundTrip() throws Exception {
        roundTrip(Type.QUERY, "{\"query_id\":\"q1\",\"space\":\"s1\",\"timestamp_ms\":123,\"k\":10,\"max_hops\":3,"
                + "\"hop_decay\":0.8,\"threshold\":0.01,\"seed_k\":16,\"include_content\":false,\"after_event_ids\":[],\"after_positions\":[],\"on_timeout\":null,\"cue\":[0.1,0.2]}");
    }

    @Test
    void controlRoundTrip() throws Exception {
        roundTrip(Type.CONTROL, "{\"mode\":\"java\",\"reason\":\"rollback drill\",\"issued_by\":\"ops\","
                + "\"timestamp_ms\":123,\"fraction\":0.05,\"spaces\":[\"s1\"]}");
    }

    @Test
    void resultRoundTripHasHitsLast() throws Exception {
        String json = "{\"query_id\":\"q1\",\"space\":\"s1\",\"timestamp_ms\":123,\"kernel_mode\":\"zig\","
                + "\"latency_us\":42,\"stale\":false,\"truncated\":false,\"hits\":[{\"memory_id\":\"m1\",\"score\":0.9,"
                + "\"similarity\":0.95,\"activation\":0.95,\"retention\":0.99,\"hops\":0,\"content\":\"a cat\"},"
                + "{\"memory_id\":\"m2\",\"score\":0.5,\"similarity\":-0.1,\"activation\":0.5,\"retention\":1.0,"
                + "\"hops\":1,\"content\":null}]}";
        roundTrip(Type.RESULT, json);
        // the documented field order: scalars, then hits
        assertThat(JsonCodec.toJson(JsonCodec.result(json))).isEqualTo(json);
    }

    @Test
    void deadLetterRoundTripWithUtf8Key() throws Exception {
        String json = "{\"source_topic\":\"engram.memory-events\",\"source_partition\":1,\"source_offset\":7,"
                + "\"reason\":\"UNKNOWN_MEMORY\",\"message\":\"memory 'x' is not in space 's1'\",\"timestamp_ms\":123,"
                + "\"key_size\":2,\"value_size\":4,\"key_sha256\":\"" + "a".repeat(64) + "\",\"value_sha256\":\""
                + "b".repeat(64) + "\",\"truncated\":false,\"key\":\"s1\",\"value_base64\":\"wwEAAQ==\"}";
        roundTrip(Type.DEAD_LETTER, json);
        assertThat(JsonCodec.toJson(JsonCodec.deadLetter(json))).isEqualTo(json);
    }

    @Test
    void deadLetterWithBinaryKeyUsesKeyBase64AndNullsStayNull() throws Exception {
        DeadLetter dl = DeadLetter.newBuilder()
                .setSourceTopic("t").setSourcePartition(0).setSourceOffset(1)
                .setKey(ByteBuffer.wrap(new byte[] {(byte) 0xff, (byte) 0xfe}))
                .setValue(null)
                .setReason("EMPTY").setMessage("no value").setTimestampMs(5).build();
        JsonNode n = JSON.readTree(JsonCodec.toJson(dl));
        assertThat(n.get("key").isNull()).isTrue();
        assertThat(n.get("key_base64").asText()).isEqualTo("//4=");
        assertThat(n.get("value_base64").isNull()).isTrue();
        assertThat(JsonCodec.deadLetter(JsonCodec.toJson(dl))).isEqualTo(dl);

        DeadLetter noKey = DeadLetter.newBuilder(dl).setKey(null).build();
        assertThat(JSON.readTree(JsonCodec.toJson(noKey)).get("key").isNull()).isTrue();
        assertThat(JsonCodec.deadLetter(JsonCodec.toJson(noKey))).isEqualTo(noKey);
    }

    /** JSON → Avro → bytes → Avro → JSON gives the same JSON tree; Avro → JSON → Avro the same record. */
    private static void roundTrip(Type type, String json) throws Exception {
        SpecificRecord record = JsonCodec.fromJson(type, json, NOW);
        byte[] wire = AvroCodec.encode(record);
        SpecificRecord decoded = switch (type) {
            case EVENT -> AvroCodec.decodeMemoryEvent(wire);
            case QUERY -> AvroCodec.decodeRecallQuery(wire);
            case CONTROL -> AvroCodec.decodeKernelControl(wire);
            case RESULT -> AvroCodec.decodeRecallResult(wire);
            case DEAD_LETTER -> AvroCodec.decodeDeadLetter(wire);
        };
        assertThat(decoded).isEqualTo(record);
        assertThat(JSON.readTree(JsonCodec.toJson(decoded))).isEqualTo(JSON.readTree(json));
        assertThat(JsonCodec.fromJson(type, JsonCodec.toJson(decoded), NOW + 1)).isEqualTo(record);
    }

    // ------------------------------------------------------------------------------------------------ values

    @Test
    void storeMapsToTheAvroRecordAndOmittedFieldsTakeTheAvroDefaults() {
        MemoryEvent e = JsonCodec.event("{\"space\":\"s1\",\"event_id\":\"e1\",\"payload\":{\"type\":\"store\","
                + "\"memory_id\":\"m1\",\"embedding\":[1,0.5]}}", NOW);
        assertThat(e.getSpace()).isEqualTo("s1");
        assertThat(e.getTimestampMs()).as("timestamp_ms omitted: now").isEqualTo(NOW);
        StoreMemory s = (StoreMemory) e.getPayload();
        assertThat(s.getEmbedding()).containsExactly(1f, 0.5f);
        assertThat(s.getStrength()).isEqualTo(1.0f);
        assertThat(s.getStabilityS()).isNull();
        assertThat(s.getContent()).isNull();

        Associate a = (Associate) JsonCodec.event("{\"space\":\"s1\",\"event_id\":\"e\",\"timestamp_ms\":1,"
                + "\"payload\":{\"type\":\"associate\",\"from_id\":\"a\",\"to_id\":\"b\",\"weight\":0.25}}", NOW)
                .getPayload();
        assertThat(a.getBidirectional()).isFalse();
        assertThat(a.getWeight()).isEqualTo(0.25f);

        assertThat(JsonCodec.event("{\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"reinforce\","
                + "\"memory_id\":\"m\"}}", NOW).getPayload()).isEqualTo(new ReinforceMemory("m"));
        assertThat(JsonCodec.event("{\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"forget\","
                + "\"memory_id\":\"m\"}}", NOW).getPayload()).isEqualTo(new Forget("m"));
    }

    @Test
    void explicitNullsForOptionalFields() {
        StoreMemory s = (StoreMemory) JsonCodec.event("{\"space\":\"s1\",\"event_id\":\"e1\",\"payload\":{\"type\":"
                + "\"store\",\"memory_id\":\"m1\",\"embedding\":[1],\"stability_s\":null,\"content\":null}}", NOW)
                .getPayload();
        assertThat(s.getStabilityS()).isNull();
        assertThat(s.getContent()).isNull();
    }

    @Test
    void queryDefaults() {
        RecallQuery q = JsonCodec.query("{\"query_id\":\"q1\",\"space\":\"s1\",\"cue\":[0.5]}", NOW);
        assertThat(q.getTimestampMs()).isEqualTo(NOW);
        assertThat(q.getK()).isEqualTo(10);
        assertThat(q.getMaxHops()).isNull();
        assertThat(q.getHopDecay()).isNull();
        assertThat(q.getThreshold()).isNull();
        assertThat(q.getSeedK()).isNull();
        assertThat(q.getCue()).containsExactly(0.5f);
    }

    @Test
    void controlDefaults() {
        KernelControl c = JsonCodec.control("{\"mode\":\"zig\",\"reason\":\"r\",\"issued_by\":\"ops\"}", NOW);
        assertThat(c.getTimestampMs()).isEqualTo(NOW);
        assertThat(c.getSpaces()).isEmpty();
        assertThat(c.getFraction()).isNull();
    }

    @Test
    void resultOutputMatchesTheDocumentedShape() throws Exception {
        RecallResult r = new RecallResult("q1", "s1", 123L,
                List.of(new RecallHit("m1", 0.5f, 0.6f, 0.7f, 0.8f, 2, null)), "java", 99L, false, false);
        JsonNode n = JSON.readTree(JsonCodec.toJson(r));
        assertThat(n.fieldNames()).toIterable()
                .containsExactly("query_id", "space", "timestamp_ms", "kernel_mode", "latency_us", "stale", "truncated", "hits");
        assertThat(n.get("hits").get(0).fieldNames()).toIterable()
                .containsExactly("memory_id", "score", "similarity", "activation", "retention", "hops", "content");
        assertThat(n.get("hits").get(0).get("score").floatValue()).isEqualTo(0.5f);
        assertThat(n.get("hits").get(0).get("hops").intValue()).isEqualTo(2);
    }

    @Test
    void deadLetterOutputMatchesTheDocumentedShape() throws Exception {
        DeadLetter dl = new DeadLetter("t", 1, 2L, ByteBuffer.wrap("s1".getBytes(StandardCharsets.UTF_8)),
                ByteBuffer.wrap(new byte[] {1, 2, 3}), "BAD_SPACE", "msg", 9L, 2, 3, "a".repeat(64), "b".repeat(64), false);
        JsonNode n = JSON.readTree(JsonCodec.toJson(dl));
        assertThat(n.fieldNames()).toIterable().containsExactly("source_topic", "source_partition", "source_offset",
                "reason", "message", "timestamp_ms", "key_size", "value_size", "key_sha256", "value_sha256",
                "truncated", "key", "value_base64");
        assertThat(n.get("value_size").intValue()).isEqualTo(3);
        assertThat(n.get("truncated").booleanValue()).isFalse();
        assertThat(n.get("key").asText()).isEqualTo("s1");
        assertThat(n.get("value_base64").asText()).isEqualTo("AQID");
    }

    @Test
    void floatsKeepTheirShortestForm() {
        RecallQuery q = JsonCodec.query("{\"query_id\":\"q\",\"space\":\"s1\",\"cue\":[0.1,1e-7,-3.4028235E38]}", NOW);
        assertThat(JsonCodec.toJson(q)).contains("\"cue\":[0.1,1.0E-7,-3.4028235E38]");
    }

    // ------------------------------------------------------------------------------------------------ errors

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "missing event_id | {\"space\":\"s1\",\"payload\":{\"type\":\"forget\",\"memory_id\":\"m\"}} | "
                + "missing required field 'event_id'",
        "missing payload field | {\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"store\","
                + "\"embedding\":[1]}} | missing required field 'payload.memory_id' (store)",
        "missing weight | {\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"associate\",\"from_id\":\"a\","
                + "\"to_id\":\"b\"}} | missing required field 'payload.weight' (associate)",
        "missing payload | {\"space\":\"s1\",\"event_id\":\"e\"} | missing required field 'payload'",
        "embedding with a string | {\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"store\","
                + "\"memory_id\":\"m\",\"embedding\":[1,\"x\"]}} | field 'payload.embedding[1]': expected a number, got "
                + "a string \"x\"",
        "embedding not an array | {\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"store\","
                + "\"memory_id\":\"m\",\"embedding\":1}} | field 'payload.embedding': expected an array, got a number 1",
        "space is a number | {\"space\":7,\"event_id\":\"e\",\"payload\":{\"type\":\"forget\",\"memory_id\":\"m\"}} | "
                + "field 'space': expected a string, got a number 7",
        "timestamp is a string | {\"space\":\"s1\",\"event_id\":\"e\",\"timestamp_ms\":\"123\",\"payload\":{\"type\":"
                + "\"forget\",\"memory_id\":\"m\"}} | field 'timestamp_ms': expected an integer (64 bit), got a "
                + "string \"123\"",
        "timestamp fractional | {\"space\":\"s1\",\"event_id\":\"e\",\"timestamp_ms\":1.5,\"payload\":{\"type\":"
                + "\"forget\",\"memory_id\":\"m\"}} | field 'timestamp_ms': expected an integer (64 bit)",
        "bidirectional not boolean | {\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"associate\","
                + "\"from_id\":\"a\",\"to_id\":\"b\",\"weight\":1,\"bidirectional\":\"yes\"}} | field "
                + "'payload.bidirectional': expected true or false",
        "unknown payload type | {\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"stor\",\"memory_id\":"
                + "\"m\"}} | field 'payload.type': unknown type 'stor', expected store, reinforce, associate, forget",
        "payload without type | {\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"memory_id\":\"m\"}} | "
                + "field 'payload.type': missing or not a string",
        "unknown top-level field | {\"space\":\"s1\",\"event_id\":\"e\",\"evnt\":1,\"payload\":{\"type\":\"forget\","
                + "\"memory_id\":\"m\"}} | unknown field 'evnt': known fields are space, event_id, timestamp_ms, payload",
        "unknown payload field | {\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"store\",\"memory_id\":"
                + "\"m\",\"embedding\":[1],\"stabilty_s\":1}} | unknown field 'payload.stabilty_s' (store)",
        "float out of range | {\"space\":\"s1\",\"event_id\":\"e\",\"payload\":{\"type\":\"store\",\"memory_id\":"
                + "\"m\",\"embedding\":[1e39]}} | field 'payload.embedding[0]': 1.0E39 is out of the range of a "
                + "32-bit float",
        "not JSON | {space: s1} | invalid JSON:",
        "trailing garbage | {\"space\":\"s1\"} x | invalid JSON:",
        "duplicate key | {\"space\":\"s1\",\"space\":\"s2\"} | invalid JSON: Duplicate field 'space'",
        "an array | [1,2] | expected a JSON object (a memory event), got an array [1,2]"})
    void eventErrorsNameTheField(String name, String json, String message) {
        assertThatThrownBy(() -> JsonCodec.event(json, NOW))
                .isInstanceOf(JsonFormatException.class)
                .hasMessageContaining(message.trim());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "missing cue | {\"query_id\":\"q\",\"space\":\"s1\"} | missing required field 'cue'",
        "fractional k | {\"query_id\":\"q\",\"space\":\"s1\",\"cue\":[1],\"k\":10.5} | field 'k': expected an integer "
                + "(32 bit), got a number 10.5",
        "k too big for int | {\"query_id\":\"q\",\"space\":\"s1\",\"cue\":[1],\"k\":3000000000} | field 'k': expected an "
                + "integer (32 bit)",
        "max_hops as string | {\"query_id\":\"q\",\"space\":\"s1\",\"cue\":[1],\"max_hops\":\"3\"} | field 'max_hops': "
                + "expected an integer (32 bit), got a string \"3\"",
        "empty line | '' | empty input: expected a JSON object"})
    void queryErrorsNameTheField(String name, String json, String message) {
        assertThatThrownBy(() -> JsonCodec.query(json, NOW))
                .isInstanceOf(JsonFormatException.class)
                .hasMessageContaining(message.trim());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "missing reason | {\"mode\":\"java\",\"issued_by\":\"ops\"} | missing required field 'reason'",
        "spaces not strings | {\"mode\":\"java\",\"reason\":\"r\",\"issued_by\":\"ops\",\"spaces\":[1]} | field "
                + "'spaces[0]': expected a string, got a number 1",
        "fraction as string | {\"mode\":\"java\",\"reason\":\"r\",\"issued_by\":\"ops\",\"fraction\":\"half\"} | "
                + "field 'fraction': expected a number, got a string \"half\""})
    void controlErrorsNameTheField(String name, String json, String message) {
        assertThatThrownBy(() -> JsonCodec.control(json, NOW))
                .isInstanceOf(JsonFormatException.class)
                .hasMessageContaining(message.trim());
    }

    @Test
    void resultsAndDeadLettersNeedTheirTimestamp() {
        assertThatThrownBy(() -> JsonCodec.result("{\"query_id\":\"q\",\"space\":\"s\",\"hits\":[],"
                + "\"kernel_mode\":\"java\",\"latency_us\":1}"))
                .isInstanceOf(JsonFormatException.class)
                .hasMessageContaining("missing required field 'timestamp_ms'");
        assertThatThrownBy(() -> JsonCodec.deadLetter("{\"source_topic\":\"t\",\"source_partition\":0,"
                + "\"source_offset\":0,\"reason\":\"EMPTY\",\"message\":\"m\",\"timestamp_ms\":1,\"key\":\"a\","
                + "\"key_base64\":\"YQ==\"}"))
                .isInstanceOf(JsonFormatException.class)
                .hasMessageContaining("either 'key' or 'key_base64'");
    }

    @Test
    void payloadLabelsAreTheFirstWordOfTheRecordName() {
        assertThat(JsonCodec.label(StoreMemory.getClassSchema())).isEqualTo("store");
        assertThat(JsonCodec.label(ReinforceMemory.getClassSchema())).isEqualTo("reinforce");
        assertThat(JsonCodec.label(Associate.getClassSchema())).isEqualTo("associate");
        assertThat(JsonCodec.label(Forget.getClassSchema())).isEqualTo("forget");
    }
}
