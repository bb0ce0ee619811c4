package io.engram.job.cli;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.StringJoiner;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

/**
 * The JSON form of every engram record, for the {@code engram send} and {@code engram tail} commands.
 *
 * <p>Field names are the Avro field names (snake_case). The mapping is driven by the Avro schemas, so a field added
 * to a schema is understood here without code changes:
 * <ul>
 *   <li>An absent field takes its Avro default; an absent field without a default is an error, except a top-level
 *       {@code timestamp_ms} of an input record (event, query, control), which defaults to "now".</li>
 *   <li>{@code ["null", X]} unions are {@code null} or an X.</li>
 *   <li>A union of records (the event {@code payload}) is an object with a {@code "type"} discriminator:
 *       {@code store}, {@code reinforce}, {@code associate} or {@code forget}, i.e. the first word of the record
 *       name in lower case.</li>
 *   <li>{@code bytes} fields are written as {@code <name>_base64}. The dead letter's {@code key} is the exception:
 *       it is written as a UTF-8 string {@code key} (or {@code key_base64} when it is not valid UTF-8).</li>
 *   <li>Unknown fields, wrong types, fractional integers, numbers out of range and trailing garbage are errors;
 *       nothing is silently dropped or coerced.</li>
 * </ul>
 * Output objects list scalar fields first, then bytes and arrays, in schema order (e.g. a result's {@code hits}
 * come last).
 */
public final class JsonCodec {

    /** The record types, with the JSON input/output names the CLI uses. */
    public enum Type {
        EVENT("event", "a memory event", MemoryEvent.getClassSchema(), true),
        QUERY("query", "a recall query", RecallQuery.getClassSchema(), true),
        CONTROL("control", "a kernel control record", KernelControl.getClassSchema(), true),
        RESULT("result", "a recall result", RecallResult.getClassSchema(), false),
        DEAD_LETTER("dead-letter", "a dead letter", DeadLetter.getClassSchema(), false);

        final String label;
        final String article;
        final Schema schema;
        /** Input records: a missing top-level timestamp_ms means "now". */
        final boolean defaultTimestamp;

        Type(String label, String article, Schema schema, boolean defaultTimestamp) {
            this.label = label;
            this.article = article;
            this.schema = schema;
            this.defaultTimestamp = defaultTimestamp;
        }

        public String label() {
            return label;
        }
    }

    /** A JSON input that does not describe a valid record; the message names the field. */
    public static final class JsonFormatException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        JsonFormatException(String message) {
            super(message);
        }
    }

    private static final String TIMESTAMP = "timestamp_ms";
    private static final String TYPE = "type";
    private static final String BASE64 = "_base64";

    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private JsonCodec() {
    }

    // ------------------------------------------------------------------------------------------------ JSON -> Avro

    /** Parses one JSON object into a {@link MemoryEvent}; a missing {@code timestamp_ms} becomes {@code nowMs}. */
    public static MemoryEvent event(String json, long nowMs) {
        return (MemoryEvent) fromJson(Type.EVENT, json, nowMs);
    }

    public static RecallQuery query(String json, long nowMs) {
        return (RecallQuery) fromJson(Type.QUERY, json, nowMs);
    }

    public static KernelControl control(String json, long nowMs) {
        return (KernelControl) fromJson(Type.CONTROL, json, nowMs);
    }

    public static RecallResult result(String json) {
        return (RecallResult) fromJson(Type.RESULT, json, 0L);
    }

    public static DeadLetter deadLetter(String json) {
        return (DeadLetter) fromJson(Type.DEAD_LETTER, json, 0L);
    }

    /**
     * Parses one JSON object (one line of a JSON Lines file) into the record of {@code type}.
     *
     * @throws JsonFormatException if the text is not a JSON object describing a valid record
     */
    public static SpecificRecord fromJson(Type type, String json, long nowMs) {
        JsonNode node;
        try {
            node = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new JsonFormatException("invalid JSON: " + e.getOriginalMessage());
        }
        if (node == null || node.isMissingNode()) {
            throw new JsonFormatException("empty input: expected a JSON object");
        }
        if (!node.isObject()) {
            throw new JsonFormatException("expected a JSON object (" + type.article + "), got " + describe(node));
        }
        return (SpecificRecord) record(type.schema, (ObjectNode) node, "", type.defaultTimestamp, nowMs, type);
    }

    private static Object record(Schema schema, ObjectNode node, String path, boolean topLevelInput, long nowMs,
                                 Type type) {
        SpecificData model = SpecificData.getForSchema(schema);
        SpecificRecord out = (SpecificRecord) model.newRecord(null, schema);
        Map<String, Schema.Field> known = new LinkedHashMap<>();
        for (Schema.Field f : schema.getFields()) {
            known.put(jsonName(f, type), f);
        }
        if (type == Type.DEAD_LETTER && path.isEmpty()) {
            known.put("key", schema.getField("key")); // the key as UTF-8 text, or key_base64
        }
        boolean discriminated = !path.isEmpty() && isRecordUnionMember(schema);
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (discriminated && name.equals(TYPE)) {
                continue;
            }
            if (!known.containsKey(name)) {
                throw new JsonFormatException("unknown field '" + path + name + "'" + where(schema, path)
                        + ": known fields are " + String.join(", ", known.keySet()));
            }
        }
        for (Schema.Field f : schema.getFields()) {
            String name = jsonName(f, type);
            String fieldPath = path + name;
            JsonNode value = node.get(name);
            if (type == Type.DEAD_LETTER && path.isEmpty() && f.name().equals("key")) {
                out.put(f.pos(), deadLetterKey(node));
                continue;
            }
            if (value == null) {
                if (topLevelInput && path.isEmpty() && f.name().equals(TIMESTAMP)) {
                    out.put(f.pos(), nowMs);
                } else if (f.hasDefaultValue()) {
                    out.put(f.pos(), model.getDefaultValue(f));
                } else {
                    throw new JsonFormatException("missing required field '" + fieldPath + "'" + where(schema, path));
                }
                continue;
            }
            out.put(f.pos(), value(f.schema(), value, fieldPath, nowMs, type));
        }
        return out;
    }

    private static Object value(Schema schema, JsonNode node, String path, long nowMs, Type type) {
        switch (schema.getType()) {
            case UNION:
                return union(schema, node, path, nowMs, type);
            case NULL:
                if (!node.isNull()) {
                    throw wrong(path, "null", node);
                }
                return null;
            case STRING:
                if (!node.isTextual()) {
                    throw wrong(path, "a string", node);
                }
                return node.textValue();
            case BOOLEAN:
                if (!node.isBoolean()) {
                    throw wrong(path, "true or false", node);
                }
                return node.booleanValue();
            case INT:
                if (!node.isIntegralNumber() || !node.canConvertToInt()) {
                    throw wrong(path, "an integer (32 bit)", node);
                }
                return node.intValue();
            case LONG:
                if (!node.isIntegralNumber() || !node.canConvertToLong()) {
                    throw wrong(path, "an integer (64 bit)", node);
                }
                return node.longValue();
            case FLOAT: {
                if (!node.isNumber()) {
                    throw wrong(path, "a number", node);
                }
                double d = node.doubleValue();
                float f = (float) d;
                if (Float.isInfinite(f)) {
                    throw new JsonFormatException("field '" + path + "': " + node + " is out of the range of a "
                            + "32-bit float");
                }
                return f;
            }
            case DOUBLE: {
                if (!node.isNumber()) {
                    throw wrong(path, "a number", node);
                }
                double d = node.doubleValue();
                if (Double.isInfinite(d)) {
                    throw new JsonFormatException("field '" + path + "': " + node + " is out of the range of a double");
                }
                return d;
            }
            case BYTES:
                if (!node.isTextual()) {
                    throw wrong(path, "a base64 string", node);
                }
                try {
                    return ByteBuffer.wrap(Base64.getDecoder().decode(node.textValue()));
                } catch (IllegalArgumentException e) {
                    throw new JsonFormatException("field '" + path + "': not valid base64: " + e.getMessage());
                }
            case ARRAY: {
                if (!node.isArray()) {
                    throw wrong(path, "an array", node);
                }
                List<Object> list = new ArrayList<>(node.size());
                for (int i = 0; i < node.size(); i++) {
                    list.add(value(schema.getElementType(), node.get(i), path + "[" + i + "]", nowMs, type));
                }
                return list;
            }
            case RECORD:
                if (!node.isObject()) {
                    throw wrong(path, "an object", node);
                }
                return record(schema, (ObjectNode) node, path + ".", false, nowMs, type);
            default:
                throw new JsonFormatException("field '" + path + "': Avro type " + schema.getType()
                        + " is not supported in JSON");
        }
    }

    private static Object union(Schema union, JsonNode node, String path, long nowMs, Type type) {
        List<Schema> branches = union.getTypes();
        List<Schema> records = new ArrayList<>();
        Schema other = null;
        boolean nullable = false;
        for (Schema b : branches) {
            if (b.getType() == Schema.Type.NULL) {
                nullable = true;
            } else if (b.getType() == Schema.Type.RECORD) {
                records.add(b);
            } else {
                other = b;
            }
        }
        if (node.isNull()) {
            if (!nullable) {
                throw wrong(path, records.isEmpty() ? "a value" : "an object with \"type\"", node);
            }
            return null;
        }
        if (records.size() > 1 || (records.size() == 1 && other == null && !nullable)) {
            // A union of records: {"type": "store", ...}
            if (!node.isObject()) {
                throw wrong(path, "an object with a \"type\" field (" + recordLabels(records) + ")", node);
            }
            JsonNode t = node.get(TYPE);
            if (t == null || !t.isTextual()) {
                throw new JsonFormatException("field '" + path + "." + TYPE + "': missing or not a string; expected "
                        + recordLabels(records));
            }
            for (Schema r : records) {
                if (label(r).equals(t.textValue())) {
                    return record(r, (ObjectNode) node, path + ".", false, nowMs, type);
                }
            }
            throw new JsonFormatException("field '" + path + "." + TYPE + "': unknown type '" + t.textValue()
                    + "', expected " + recordLabels(records));
        }
        Schema branch = other != null ? other : records.get(0);
        return value(branch, node, path, nowMs, type);
    }

    private static Object deadLetterKey(ObjectNode node) {
        JsonNode key = node.get("key");
        JsonNode b64 = node.get("key_base64");
        if (key != null && !key.isNull() && b64 != null && !b64.isNull()) {
            throw new JsonFormatException("give either 'key' or 'key_base64', not both");
        }
        if (b64 != null && !b64.isNull()) {
            return value(Schema.create(Schema.Type.BYTES), b64, "key_base64", 0L, Type.DEAD_LETTER);
        }
        if (key == null || key.isNull()) {
            return null;
        }
        if (!key.isTextual()) {
            throw wrong("key", "a string or null", key);
        }
        return ByteBuffer.wrap(key.textValue().getBytes(StandardCharsets.UTF_8));
    }

    // ------------------------------------------------------------------------------------------------ Avro -> JSON

    /** The record as a one-line JSON object. */
    public static String toJson(SpecificRecord record) {
        try {
            return MAPPER.writeValueAsString(toJsonNode(record));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON: " + e.getMessage(), e); // cannot happen for a tree
        }
    }

    public static ObjectNode toJsonNode(SpecificRecord record) {
        Type type = null;
        for (Type t : Type.values()) {
            if (t.schema.getFullName().equals(record.getSchema().getFullName())) {
                type = t;
            }
        }
        return recordNode(record, record.getSchema(), type, true);
    }

    private static ObjectNode recordNode(SpecificRecord record, Schema schema, Type type, boolean topLevel) {
        ObjectNode out = NODES.objectNode();
        if (isRecordUnionMember(schema) && !topLevel) {
            out.put(TYPE, label(schema));
        }
        List<Schema.Field> later = new ArrayList<>();
        for (Schema.Field f : schema.getFields()) {
            if (isBulky(f.schema())) {
                later.add(f);
            } else {
                putField(out, record, f, type, topLevel);
            }
        }
        for (Schema.Field f : later) {
            putField(out, record, f, type, topLevel);
        }
        return out;
    }

    private static void putField(ObjectNode out, SpecificRecord record, Schema.Field f, Type type, boolean topLevel) {
        Object v = record.get(f.pos());
        if (type == Type.DEAD_LETTER && topLevel && f.name().equals("key")) {
            byte[] key = v == null ? null : bytes((ByteBuffer) v);
            String utf8 = key == null ? null : strictUtf8(key);
            if (key == null || utf8 != null) {
                out.put("key", utf8);
            } else {
                out.putNull("key");
                out.put("key_base64", Base64.getEncoder().encodeToString(key));
            }
            return;
        }
        out.set(jsonName(f, type), node(f.schema(), v, type));
    }

    private static JsonNode node(Schema schema, Object v, Type type) {
        if (v == null) {
            return NODES.nullNode();
        }
        switch (schema.getType()) {
            case UNION:
                for (Schema b : schema.getTypes()) {
                    if (b.getType() == Schema.Type.NULL) {
                        continue;
                    }
                    if (b.getType() != Schema.Type.RECORD
                            || b.getFullName().equals(((SpecificRecord) v).getSchema().getFullName())) {
                        return node(b, v, type);
                    }
                }
                throw new IllegalStateException("value of " + v.getClass() + " matches no branch of " + schema);
            case STRING:
                return NODES.textNode(v.toString());
            case BOOLEAN:
                return NODES.booleanNode((Boolean) v);
            case INT:
                return NODES.numberNode((Integer) v);
            case LONG:
                return NODES.numberNode((Long) v);
            case FLOAT:
                return NODES.numberNode((Float) v);
            case DOUBLE:
                return NODES.numberNode((Double) v);
            case BYTES:
                return NODES.textNode(Base64.getEncoder().encodeToString(bytes((ByteBuffer) v)));
            case ARRAY: {
                ArrayNode a = NODES.arrayNode();
                for (Object item : (List<?>) v) {
                    a.add(node(schema.getElementType(), item, type));
                }
                return a;
            }
            case RECORD:
                return recordNode((SpecificRecord) v, schema, type, false);
            default:
                throw new IllegalStateException("Avro type " + schema.getType() + " is not supported in JSON");
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** The JSON name of a field: the Avro name, or {@code <name>_base64} for bytes. */
    private static String jsonName(Schema.Field f, Type type) {
        return isBytes(f.schema()) ? f.name() + BASE64 : f.name();
    }

    private static boolean isBytes(Schema s) {
        if (s.getType() == Schema.Type.BYTES) {
            return true;
        }
        if (s.getType() == Schema.Type.UNION) {
            for (Schema b : s.getTypes()) {
                if (b.getType() == Schema.Type.BYTES) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Bytes and arrays are written after the scalar fields, so the readable part of a line comes first. */
    private static boolean isBulky(Schema s) {
        if (s.getType() == Schema.Type.UNION) {
            for (Schema b : s.getTypes()) {
                if (isBulky(b)) {
                    return true;
                }
            }
            return false;
        }
        return s.getType() == Schema.Type.BYTES || s.getType() == Schema.Type.ARRAY;
    }

    /** Records that are branches of a union of records (the event payloads) carry a "type" in JSON. */
    private static boolean isRecordUnionMember(Schema record) {
        for (Schema.Field f : MemoryEvent.getClassSchema().getFields()) {
            if (f.schema().getType() == Schema.Type.UNION) {
                for (Schema b : f.schema().getTypes()) {
                    if (b.getType() == Schema.Type.RECORD && b.getFullName().equals(record.getFullName())) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /** {@code StoreMemory} → {@code store}: the first word of the record name, in lower case. */
    static String label(Schema record) {
        String n = record.getName();
        int end = 1;
        while (end < n.length() && !Character.isUpperCase(n.charAt(end))) {
            end++;
        }
        return n.substring(0, end).toLowerCase(Locale.ROOT);
    }

    private static String recordLabels(List<Schema> records) {
        StringJoiner j = new StringJoiner(", ");
        for (Schema r : records) {
            j.add(label(r));
        }
        return j.toString();
    }

    private static String where(Schema schema, String path) {
        return path.isEmpty() ? "" : " (" + (isRecordUnionMember(schema) ? label(schema) : schema.getName()) + ")";
    }

    private static JsonFormatException wrong(String path, String expected, JsonNode got) {
        return new JsonFormatException("field '" + path + "': expected " + expected + ", got " + describe(got));
    }

    private static String describe(JsonNode n) {
        String text = n.toString();
        if (text.length() > 40) {
            text = text.substring(0, 37) + "...";
        }
        String kind = n.isTextual() ? "a string" : n.isNumber() ? "a number" : n.isBoolean() ? "a boolean"
                : n.isArray() ? "an array" : n.isObject() ? "an object" : n.isNull() ? "null" : "a value";
        return n.isNull() ? "null" : kind + " " + text;
    }

    static byte[] bytes(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        byte[] out = new byte[d.remaining()];
        d.get(out);
        return out;
    }

    /** The bytes as UTF-8, or null if they are not valid UTF-8. */
    static String strictUtf8(byte[] b) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }
}
