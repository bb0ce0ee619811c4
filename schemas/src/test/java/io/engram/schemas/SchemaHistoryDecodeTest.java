package io.engram.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Data written with an older schema version decodes into the current classes, with defaults filled in. */
class SchemaHistoryDecodeTest {

  static Stream<SpecificRecord> samples() {
    return Fixtures.samples().stream();
  }

  /** Encodes a generic record with {@code writer}, single-object encoded, as a producer on that version would. */
  static byte[] writeWith(Schema writer, GenericRecord record) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    new BinaryMessageEncoder<GenericRecord>(GenericData.get(), writer).encode(record, out);
    return out.toByteArray();
  }

  /** The sample as a generic record of an older schema version (fields the version lacks dropped). */
  static GenericRecord asVersion(SpecificRecord sample, Schema version) throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    BinaryEncoder enc = EncoderFactory.get().binaryEncoder(body, null);
    new SpecificDatumWriter<SpecificRecord>(sample.getSchema()).write(sample, enc);
    enc.flush();
    return new GenericDatumReader<GenericRecord>(sample.getSchema(), version)
        .read(null, DecoderFactory.get().binaryDecoder(body.toByteArray(), null));
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("samples")
  void dataWrittenWithEveryReleasedVersionDecodes(SpecificRecord sample) throws IOException {
    String type = Fixtures.typeOf(sample);
    Function<byte[], SpecificRecord> decoder = Fixtures.DECODERS.get(type);
    List<Schema> released = AvroCodec.history(type);
    assertThat(released).isNotEmpty();
    for (Schema version : released) {
      GenericRecord old = asVersion(sample, version);
      SpecificRecord decoded = decoder.apply(writeWith(version, old));

      assertThat(decoded).isInstanceOf(sample.getClass());
      // everything the old writer said survives: reading the decoded record back as that version gives it again
      assertThat(asVersion(decoded, version)).isEqualTo(old);
    }
  }

  @Test
  void anOlderMemoryEventDecodesWithDefaults() throws IOException {
    Schema older = Fixtures.olderMemoryEvent();
    assertThat(AvroCodec.fingerprint(older)).isNotEqualTo(AvroCodec.fingerprint(MemoryEvent.getClassSchema()));
    AvroCodec.TypedDecoder<MemoryEvent> codec = AvroCodec.TypedDecoder.withExtraWriters(
        MemoryEvent.class, MemoryEvent.getClassSchema(), List.of(older));

    Schema payload = older.getField("payload").schema();
    Schema oldStore = payload.getTypes().get(0);
    Schema oldAssociate = payload.getTypes().get(2);
    GenericRecord store = new GenericRecordBuilder(older)
        .set("space", "space_01").set("event_id", "e-old-1").set("timestamp_ms", 42L)
        .set("payload", new GenericRecordBuilder(oldStore).set("memory_id", "m-1").set("embedding", List.of(1f, 2f)).build())
        .build();
    GenericRecord associate = new GenericRecordBuilder(older)
        .set("space", "space_01").set("event_id", "e-old-2").set("timestamp_ms", 43L)
        .set("payload", new GenericRecordBuilder(oldAssociate).set("from_id", "a").set("to_id", "b").set("weight", 0.3f).build())
        .build();

    MemoryEvent e1 = codec.decode(writeWith(older, store));
    assertThat(e1.getSpace()).isEqualTo("space_01");
    assertThat(e1.getEventId()).isEqualTo("e-old-1");
    assertThat(e1.getTimestampMs()).isEqualTo(42L);
    StoreMemory s = (StoreMemory) e1.getPayload();
    assertThat(s.getMemoryId()).isEqualTo("m-1");
    assertThat(s.getEmbedding()).containsExactly(1f, 2f);
    assertThat(s.getStrength()).isEqualTo(1.0f);
    assertThat(s.getStabilityS()).isNull();
    assertThat(s.getContent()).isNull();

    Associate a = (Associate) codec.decode(writeWith(older, associate)).getPayload();
    assertThat(a.getFromId()).isEqualTo("a");
    assertThat(a.getToId()).isEqualTo("b");
    assertThat(a.getWeight()).isEqualTo(0.3f);
    assertThat(a.getBidirectional()).isFalse();

    // The shipped codec only knows released versions: this simulated one is unknown to it.
    DecodeException unknown = catchThrowableOfType(DecodeException.class,
        () -> AvroCodec.decodeMemoryEvent(writeWith(older, store)));
    assertThat(unknown.reason()).isEqualTo(DecodeException.Reason.UNKNOWN_SCHEMA);
  }

  @Test
  void anOlderRecallQueryAndKernelControlDecodeWithDefaults() throws IOException {
    Schema olderQuery = Fixtures.withoutFields(RecallQuery.getClassSchema(),
        Set.of("k", "max_hops", "hop_decay", "threshold", "seed_k"));
    AvroCodec.TypedDecoder<RecallQuery> queries = AvroCodec.TypedDecoder.withExtraWriters(
        RecallQuery.class, RecallQuery.getClassSchema(), List.of(olderQuery));
    RecallQuery q = queries.decode(writeWith(olderQuery, new GenericRecordBuilder(olderQuery)
        .set("query_id", "q").set("space", "space_01").set("timestamp_ms", 1L).set("cue", List.of(0.5f)).build()));
    assertThat(q.getK()).isEqualTo(10);
    assertThat(q.getMaxHops()).isNull();
    assertThat(q.getHopDecay()).isNull();
    assertThat(q.getThreshold()).isNull();
    assertThat(q.getSeedK()).isNull();
    assertThat(q.getCue()).containsExactly(0.5f);

    Schema olderControl = Fixtures.withoutFields(KernelControl.getClassSchema(), Set.of("spaces", "fraction"));
    AvroCodec.TypedDecoder<KernelControl> controls = AvroCodec.TypedDecoder.withExtraWriters(
        KernelControl.class, KernelControl.getClassSchema(), List.of(olderControl));
    KernelControl c = controls.decode(writeWith(olderControl, new GenericRecordBuilder(olderControl)
        .set("mode", "java").set("reason", "r").set("issued_by", "me").set("timestamp_ms", 7L).build()));
    assertThat(c.getMode()).isEqualTo("java");
    assertThat(c.getSpaces()).isEmpty();
    assertThat(c.getFraction()).isNull();
  }

  @Test
  void anExtendedDecoderStillRejectsGarbageFromTheOlderWriter() throws IOException {
    Schema older = Fixtures.olderMemoryEvent();
    AvroCodec.TypedDecoder<MemoryEvent> codec = AvroCodec.TypedDecoder.withExtraWriters(
        MemoryEvent.class, MemoryEvent.getClassSchema(), List.of(older));
    // header of the older writer + a body that would be a valid *current* StoreMemory: the walk uses the writer
    // schema, so the extra fields are trailing garbage
    byte[] current = AvroCodec.encode(Fixtures.storeDefaults());
    byte[] mixed = current.clone();
    long fp = AvroCodec.fingerprint(older);
    for (int i = 0; i < 8; i++) {
      mixed[2 + i] = (byte) (fp >>> (8 * i));
    }
    DecodeException e = catchThrowableOfType(DecodeException.class, () -> codec.decode(mixed));
    assertThat(e.reason()).isEqualTo(DecodeException.Reason.UNDECODABLE);
  }
}
