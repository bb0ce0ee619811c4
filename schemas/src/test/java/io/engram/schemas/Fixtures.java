package io.engram.schemas;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificRecord;

/** Sample records, decoders by type, and small helpers to build raw bodies and schema variants. */
final class Fixtures {

  private Fixtures() {}

  /** The five top-level types, by simple name, with their typed decoder. */
  static final Map<String, Function<byte[], SpecificRecord>> DECODERS = Map.of(
      "MemoryEvent", AvroCodec::decodeMemoryEvent,
      "RecallQuery", AvroCodec::decodeRecallQuery,
      "RecallResult", AvroCodec::decodeRecallResult,
      "DeadLetter", AvroCodec::decodeDeadLetter,
      "KernelControl", AvroCodec::decodeKernelControl);

  /** Current schema of each top-level type, by simple name. */
  static final Map<String, Schema> CURRENT = Map.of(
      "MemoryEvent", MemoryEvent.getClassSchema(),
      "RecallQuery", RecallQuery.getClassSchema(),
      "RecallResult", RecallResult.getClassSchema(),
      "DeadLetter", DeadLetter.getClassSchema(),
      "KernelControl", KernelControl.getClassSchema());

  static final List<String> NAMES = List.of("MemoryEvent", "RecallQuery", "RecallResult", "DeadLetter", "KernelControl");

  static final long T0 = 1_700_000_000_000L;

  static MemoryEvent storeFull() {
    return MemoryEvent.newBuilder()
        .setSpace("space_01")
        .setEventId("evt-0001")
        .setTimestampMs(T0)
        .setPayload(StoreMemory.newBuilder()
            .setMemoryId("m-1")
            .setEmbedding(List.of(0.25f, -1.5f, 0f, -0f, Float.MAX_VALUE, Float.MIN_VALUE, Float.NaN,
                Float.POSITIVE_INFINITY))
            .setStrength(0.75f)
            .setStabilityS(86_400f)
            .setContent("héllo wörld 🧠 — 記憶")
            .build())
        .build();
  }

  static MemoryEvent storeDefaults() {
    return MemoryEvent.newBuilder()
        .setSpace("abc")
        .setEventId("")
        .setTimestampMs(0L)
        .setPayload(StoreMemory.newBuilder().setMemoryId("m-2").setEmbedding(List.of()).build())
        .build();
  }

  static MemoryEvent reinforce() {
    return MemoryEvent.newBuilder()
        .setSpace("space-02")
        .setEventId("evt-0002")
        .setTimestampMs(T0 + 1)
        .setPayload(ReinforceMemory.newBuilder().setMemoryId("m-1").build())
        .build();
  }

  static MemoryEvent associate() {
    return MemoryEvent.newBuilder()
        .setSpace("space-02")
        .setEventId("evt-0003")
        .setTimestampMs(T0 + 2)
        .setPayload(Associate.newBuilder().setFromId("m-1").setToId("m-2").setWeight(0.5f).setBidirectional(true).build())
        .build();
  }

  static MemoryEvent associateDefaults() {
    return MemoryEvent.newBuilder()
        .setSpace("space-02")
        .setEventId("evt-0004")
        .setTimestampMs(-1L)
        .setPayload(Associate.newBuilder().setFromId("a").setToId("b").setWeight(1f).build())
        .build();
  }

  static MemoryEvent forget() {
    return MemoryEvent.newBuilder()
        .setSpace("space-02")
        .setEventId("evt-0005")
        .setTimestampMs(Long.MAX_VALUE)
        .setPayload(Forget.newBuilder().setMemoryId("m-2").build())
        .build();
  }

  static RecallQuery queryFull() {
    return RecallQuery.newBuilder()
        .setQueryId("q-1")
        .setSpace("space_01")
        .setTimestampMs(T0)
        .setCue(List.of(0.1f, 0.2f, 0.3f))
        .setK(25)
        .setMaxHops(3)
        .setHopDecay(0.5f)
        .setThreshold(0.01f)
        .setSeedK(7)
        .build();
  }

  static RecallQuery queryDefaults() {
    return RecallQuery.newBuilder()
        .setQueryId("q-2")
        .setSpace("space_01")
        .setTimestampMs(T0)
        .setCue(List.of(1f))
        .build();
  }

  static RecallResult resultWithHits() {
    return RecallResult.newBuilder()
        .setQueryId("q-1")
        .setSpace("space_01")
        .setTimestampMs(T0)
        .setHits(List.of(
            RecallHit.newBuilder().setMemoryId("m-1").setScore(0.9f).setSimilarity(0.95f).setActivation(1f)
                .setRetention(0.8f).setHops(0).build(),
            RecallHit.newBuilder().setMemoryId("m-7").setScore(0.4f).setSimilarity(0.1f).setActivation(0.5f)
                .setRetention(0.99f).setHops(2).build()))
        .setKernelMode("zig")
        .setLatencyUs(1234L)
        .build();
  }

  static RecallResult resultEmpty() {
    return RecallResult.newBuilder()
        .setQueryId("q-2")
        .setSpace("space_01")
        .setTimestampMs(T0)
        .setHits(List.of())
        .setKernelMode("java")
        .setLatencyUs(0L)
        .build();
  }

  static DeadLetter deadLetterFull() {
    return DeadLetter.newBuilder()
        .setSourceTopic("engram.memory-events")
        .setSourcePartition(3)
        .setSourceOffset(123_456_789_012L)
        .setKey(ByteBuffer.wrap("space_01".getBytes(StandardCharsets.UTF_8)))
        .setValue(ByteBuffer.wrap(new byte[] {0, 1, 2, (byte) 0xff, (byte) 0xC3, 0x01}))
        .setReason("UNDECODABLE")
        .setMessage("cannot decode MemoryEvent: input ends inside string length")
        .setTimestampMs(T0)
        .build();
  }

  static DeadLetter deadLetterNulls() {
    return DeadLetter.newBuilder()
        .setSourceTopic("engram.recall-queries")
        .setSourcePartition(0)
        .setSourceOffset(0L)
        .setReason("EMPTY")
        .setMessage("tombstone")
        .setTimestampMs(T0)
        .build();
  }

  static KernelControl controlScoped() {
    return KernelControl.newBuilder()
        .setMode("java")
        .setReason("zig kernel regression under investigation")
        .setIssuedBy("oncall@engram")
        .setTimestampMs(T0)
        .setSpaces(List.of("space_01", "space-02"))
        .setFraction(0.25)
        .build();
  }

  static KernelControl controlAll() {
    return KernelControl.newBuilder()
        .setMode("zig")
        .setReason("rollback")
        .setIssuedBy("ops-bot")
        .setTimestampMs(T0)
        .build();
  }

  /** One or more valid samples of every type, covering every payload branch and null/non-null optional. */
  static List<SpecificRecord> samples() {
    return List.of(storeFull(), storeDefaults(), reinforce(), associate(), associateDefaults(), forget(),
        queryFull(), queryDefaults(), resultWithHits(), resultEmpty(), deadLetterFull(), deadLetterNulls(),
        controlScoped(), controlAll());
  }

  /**
   * Data equality that, unlike the {@code equals} Avro 1.12 generates, treats NaN as equal to NaN in primitive
   * float fields ({@code this.weight != other.weight} is true for NaN): Avro's own datum comparison.
   */
  static boolean sameData(SpecificRecord a, SpecificRecord b) {
    return a.getSchema().equals(b.getSchema())
        && org.apache.avro.specific.SpecificData.get().compare(a, b, a.getSchema()) == 0; // (no maps in engram schemas)
  }

  static String typeOf(SpecificRecord r) {
    return r.getSchema().getName();
  }

  // ------------------------------------------------------------------------------------ raw bytes

  /** Builds raw Avro binary: header of a fingerprint, then fields written by hand. */
  static final class Raw {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);

    static Raw header(Schema writer) {
      return header(AvroCodec.fingerprint(writer));
    }

    static Raw header(long fingerprint) {
      Raw r = new Raw();
      r.out.write(0xC3);
      r.out.write(0x01);
      for (int i = 0; i < 8; i++) {
        r.out.write((int) (fingerprint >>> (8 * i)) & 0xff);
      }
      return r;
    }

    Raw string(String s) {
      try {
        enc.writeString(s);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return this;
    }

    /** A zig-zag varint long: also how lengths, block counts and union indexes are written. */
    Raw varlong(long v) {
      try {
        enc.writeLong(v);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return this;
    }

    Raw bytes(int... bs) {
      for (int b : bs) {
        out.write(b);
      }
      return this;
    }

    byte[] build() {
      return out.toByteArray();
    }
  }

  static String hex(byte[] bytes) {
    StringBuilder sb = new StringBuilder();
    for (byte b : bytes) {
      sb.append(String.format("%02x", b & 0xff));
    }
    return sb.toString();
  }

  // ------------------------------------------------------------------------------------ schema variants

  /** A copy of {@code record} with the named fields removed. */
  static Schema withoutFields(Schema record, Collection<String> names) {
    return rebuild(record, fields -> fields.removeIf(f -> names.contains(f.name())));
  }

  /** A copy of {@code record} with {@code extra} appended. */
  static Schema withField(Schema record, Schema.Field extra) {
    return rebuild(record, fields -> fields.add(extra));
  }

  /** A copy of a record schema whose field list is edited by {@code edit} (fields are copied, never shared). */
  static Schema rebuild(Schema record, java.util.function.Consumer<List<Schema.Field>> edit) {
    List<Schema.Field> fields = new ArrayList<>();
    for (Schema.Field f : record.getFields()) {
      fields.add(new Schema.Field(f, f.schema()));
    }
    edit.accept(fields);
    return Schema.createRecord(record.getName(), record.getDoc(), record.getNamespace(), false, fields);
  }

  /** A copy of {@code record} whose field {@code field} has the schema {@code op(old)}. */
  static Schema mapField(Schema record, String field, UnaryOperator<Schema> op) {
    return rebuild(record, fields -> fields.replaceAll(f ->
        f.name().equals(field) ? new Schema.Field(f, op.apply(f.schema())) : f));
  }

  /** A copy of a union with every record branch named in {@code ops} replaced. */
  static Schema mapUnionBranches(Schema union, Map<String, UnaryOperator<Schema>> ops) {
    List<Schema> branches = new ArrayList<>();
    for (Schema b : union.getTypes()) {
      UnaryOperator<Schema> op = ops.get(b.getName());
      branches.add(op == null ? b : op.apply(b));
    }
    return Schema.createUnion(branches);
  }

  /**
   * A simulated earlier MemoryEvent schema: StoreMemory without strength, stability_s and content, and
   * Associate without bidirectional (all fields that later came with defaults).
   */
  static Schema olderMemoryEvent() {
    return mapField(MemoryEvent.getClassSchema(), "payload", union -> mapUnionBranches(union, Map.of(
        "StoreMemory", s -> withoutFields(s, Set.of("strength", "stability_s", "content")),
        "Associate", s -> withoutFields(s, Set.of("bidirectional")))));
  }
}
