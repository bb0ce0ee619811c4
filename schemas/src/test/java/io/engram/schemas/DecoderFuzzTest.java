package io.engram.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Builders;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.RandomDistribution;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.statistics.StatisticsReport;
import net.jqwik.api.statistics.StatisticsReport.StatisticsReportMode;
import org.apache.avro.specific.SpecificRecord;

/**
 * Whatever bytes arrive, every decoder either returns a valid record or throws {@link DecodeException}: never any
 * other exception, never an out-of-memory, never a hang. 10,000 tries in all (2,000 + 3,000 + 5,000), each one fed to
 * all five decoders; plus a round-trip property over random valid records.
 */
class DecoderFuzzTest {

  // ------------------------------------------------------------------------------------ the invariant

  /** Feeds the bytes to every decoder; returns the outcome of the decoder of {@code ownType} (for statistics). */
  static String feedToEveryDecoder(byte[] bytes, String ownType) {
    String own = "n/a";
    for (Map.Entry<String, Function<byte[], SpecificRecord>> e : Fixtures.DECODERS.entrySet()) {
      byte[] input = bytes == null ? null : bytes.clone();
      String outcome;
      try {
        SpecificRecord record = e.getValue().apply(input);
        assertThat(record).isNotNull();
        assertThat(record.getSchema().getName()).isEqualTo(e.getKey());
        // a valid record: it encodes, and decodes again to itself
        byte[] again = AvroCodec.encode(record);
        SpecificRecord back = e.getValue().apply(again);
        assertThat(Fixtures.sameData(back, record)).as("%s decodes again to %s", back, record).isTrue();
        outcome = "decoded";
      } catch (DecodeException failure) {
        assertThat(failure.reason()).isNotNull();
        assertThat(failure.getMessage()).isNotBlank();
        outcome = failure.reason().name();
      }
      assertThat(input).as("the decoder must not modify its input").isEqualTo(bytes);
      if (e.getKey().equals(ownType)) {
        own = outcome;
      }
    }
    return own;
  }

  // ------------------------------------------------------------------------------------ 1: random bytes (2,000)

  @Provide
  Arbitrary<byte[]> anyBytes() {
    Arbitrary<byte[]> random = Arbitraries.bytes().array(byte[].class).ofMaxSize(80);
    Arbitrary<byte[]> withMarker = random.map(b -> concat(new byte[] {(byte) 0xC3, 0x01}, b));
    return Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(1, Arbitraries.just(null)),
        net.jqwik.api.Tuple.of(10, random),
        net.jqwik.api.Tuple.of(10, withMarker));
  }

  @Property(tries = 2_000)
  @StatisticsReport(StatisticsReportMode.OFF)
  void randomBytesOnlyEverDecodeOrThrowDecodeException(@ForAll("anyBytes") byte[] bytes) {
    feedToEveryDecoder(bytes, "");
  }

  // ------------------------------------------------------------------------------------ 2: valid header, random body (3,000)

  @Provide
  Arbitrary<Map.Entry<String, byte[]>> knownHeaderRandomBody() {
    Arbitrary<String> type = Arbitraries.of(Fixtures.NAMES);
    Arbitrary<byte[]> body = Arbitraries.oneOf(
        Arbitraries.bytes().array(byte[].class).ofMaxSize(120),
        // small non-negative varints make plausible lengths, counts and union indexes
        Arbitraries.integers().between(0, 0x7f).list().ofMaxSize(60).map(DecoderFuzzTest::toBytes));
    return Combinators.combine(type, body).as((t, b) ->
        Map.entry(t, concat(Fixtures.Raw.header(Fixtures.CURRENT.get(t)).build(), b)));
  }

  @Property(tries = 3_000)
  @StatisticsReport(StatisticsReportMode.OFF)
  void knownHeaderWithRandomBodyOnlyEverDecodesOrThrowsDecodeException(
      @ForAll("knownHeaderRandomBody") Map.Entry<String, byte[]> input) {
    feedToEveryDecoder(input.getValue(), input.getKey());
  }

  // ------------------------------------------------------------------------------------ 3: mutated valid encodings (5,000)

  enum Kind { FLIP_BIT, SET_BYTE, INSERT, DELETE, TRUNCATE, VARINT_BOMB, DUPLICATE }

  /** One edit of a byte array, at a relative position so it applies to any length. */
  record Mutation(Kind kind, double at, int value) {
    byte[] apply(byte[] in) {
      int pos = (int) Math.min(in.length - 1L, (long) (at * in.length));
      if (in.length == 0) {
        return kind == Kind.INSERT ? new byte[] {(byte) value} : in;
      }
      switch (kind) {
        case FLIP_BIT: {
          byte[] out = in.clone();
          out[pos] ^= (byte) (1 << (value & 7));
          return out;
        }
        case SET_BYTE: {
          byte[] out = in.clone();
          out[pos] = (byte) value;
          return out;
        }
        case INSERT:
          return concat(concat(Arrays.copyOf(in, pos), new byte[] {(byte) value}), Arrays.copyOfRange(in, pos, in.length));
        case DELETE:
          return concat(Arrays.copyOf(in, pos), Arrays.copyOfRange(in, pos + 1, in.length));
        case TRUNCATE:
          return Arrays.copyOf(in, pos);
        case VARINT_BOMB: { // overwrite with the varint of a huge (or negative) number
          byte[] bomb = (value & 1) == 0
              ? new byte[] {(byte) 0xfe, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f}
              : new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff,
                  (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01};
          byte[] out = Arrays.copyOf(in, Math.max(in.length, pos + bomb.length));
          System.arraycopy(bomb, 0, out, pos, bomb.length);
          return out;
        }
        case DUPLICATE: {
          int len = Math.min(1 + (value & 15), in.length - pos);
          return concat(concat(Arrays.copyOf(in, pos + len), Arrays.copyOfRange(in, pos, pos + len)),
              Arrays.copyOfRange(in, pos + len, in.length));
        }
        default:
          throw new AssertionError(kind);
      }
    }
  }

  @Provide
  Arbitrary<List<Mutation>> mutations() {
    Arbitrary<Mutation> one = Combinators.combine(
        Arbitraries.of(Kind.class),
        Arbitraries.doubles().between(0, 1).withDistribution(RandomDistribution.uniform()),
        Arbitraries.integers().between(0, 255)).as(Mutation::new);
    return one.list().ofMinSize(1).ofMaxSize(4);
  }

  @Property(tries = 5_000)
  @StatisticsReport(StatisticsReportMode.OFF)
  void mutatedValidEncodingsOnlyEverDecodeOrThrowDecodeException(
      @ForAll("anyRecord") SpecificRecord record, @ForAll("mutations") List<Mutation> edits) {
    byte[] bytes = AvroCodec.encode(record);
    for (Mutation m : edits) {
      bytes = m.apply(bytes);
    }
    String outcome = feedToEveryDecoder(bytes, Fixtures.typeOf(record));
    Statistics.collect(outcome);
    Statistics.coverage(c -> {
      c.check("decoded").percentage(p -> p > 1.0);      // some mutations keep the record valid (e.g. a changed float)
      c.check("UNDECODABLE").percentage(p -> p > 20.0); // most break the body
    });
  }

  // ------------------------------------------------------------------------------------ round trip of random records

  @Property(tries = 500)
  void randomValidRecordsRoundTrip(@ForAll("anyRecord") SpecificRecord record) {
    byte[] bytes = AvroCodec.encode(record);
    SpecificRecord back = Fixtures.DECODERS.get(Fixtures.typeOf(record)).apply(bytes);
    assertThat(back).isInstanceOf(record.getClass());
    assertThat(Fixtures.sameData(back, record)).as("%s round-trips to %s", record, back).isTrue();
    assertThat(AvroCodec.encode(back)).isEqualTo(bytes);
    for (String other : Fixtures.NAMES) {
      if (!other.equals(Fixtures.typeOf(record))) {
        assertThat(feedToEveryDecoder(bytes, other)).isEqualTo("UNKNOWN_SCHEMA");
      }
    }
  }

  // ------------------------------------------------------------------------------------ random valid records

  static Arbitrary<String> text() {
    // no lone surrogates: Avro (like any UTF-8 writer) cannot represent them, so they would not round-trip
    return Arbitraries.strings().withCharRange(' ', '~').withCharRange('\u00a0', '\u07ff').withChars('\u8a18', '\u61b6')
        .ofMaxLength(16);
  }

  static Arbitrary<Float> floats() {
    return Arbitraries.floats().withStandardSpecialValues();
  }

  static Arbitrary<List<Float>> vectors() {
    return floats().list().ofMaxSize(16);
  }

  static Arbitrary<Object> payloads() {
    Arbitrary<Object> store = Builders.withBuilder(StoreMemory::newBuilder)
        .use(text()).in(StoreMemory.Builder::setMemoryId)
        .use(vectors()).in(StoreMemory.Builder::setEmbedding)
        .use(floats()).withProbability(0.7).in(StoreMemory.Builder::setStrength)
        .use(floats().injectNull(0.3)).in(StoreMemory.Builder::setStabilityS)
        .use(text().injectNull(0.3)).in(StoreMemory.Builder::setContent)
        .build(StoreMemory.Builder::build).map(o -> o);
    Arbitrary<Object> reinforce = text().map(id -> ReinforceMemory.newBuilder().setMemoryId(id).build());
    Arbitrary<Object> associate = Combinators.combine(text(), text(), floats(), Arbitraries.of(true, false))
        .as((f, t, w, b) -> Associate.newBuilder().setFromId(f).setToId(t).setWeight(w).setBidirectional(b).build());
    Arbitrary<Object> forget = text().map(id -> Forget.newBuilder().setMemoryId(id).build());
    return Arbitraries.oneOf(store, reinforce, associate, forget);
  }

  @Provide
  static Arbitrary<SpecificRecord> anyRecord() {
    Arbitrary<SpecificRecord> events = Combinators.combine(text(), text(), Arbitraries.longs(), payloads())
        .as((s, id, ts, p) -> MemoryEvent.newBuilder().setSpace(s).setEventId(id).setTimestampMs(ts).setPayload(p).build());
    Arbitrary<SpecificRecord> queries = Builders.withBuilder(RecallQuery::newBuilder)
        .use(text()).in(RecallQuery.Builder::setQueryId)
        .use(text()).in(RecallQuery.Builder::setSpace)
        .use(Arbitraries.longs()).in(RecallQuery.Builder::setTimestampMs)
        .use(vectors()).in(RecallQuery.Builder::setCue)
        .use(Arbitraries.integers()).withProbability(0.7).in(RecallQuery.Builder::setK)
        .use(Arbitraries.integers().injectNull(0.5)).in(RecallQuery.Builder::setMaxHops)
        .use(floats().injectNull(0.5)).in(RecallQuery.Builder::setHopDecay)
        .use(floats().injectNull(0.5)).in(RecallQuery.Builder::setThreshold)
        .use(Arbitraries.integers().injectNull(0.5)).in(RecallQuery.Builder::setSeedK)
        .build(b -> (SpecificRecord) b.build());
    Arbitrary<RecallHit> hit = Builders.withBuilder(RecallHit::newBuilder)
        .use(text()).in(RecallHit.Builder::setMemoryId)
        .use(floats()).in(RecallHit.Builder::setScore)
        .use(floats()).in(RecallHit.Builder::setSimilarity)
        .use(floats()).in(RecallHit.Builder::setActivation)
        .use(floats()).in(RecallHit.Builder::setRetention)
        .use(Arbitraries.integers()).in(RecallHit.Builder::setHops)
        .build(RecallHit.Builder::build);
    Arbitrary<SpecificRecord> results = Builders.withBuilder(RecallResult::newBuilder)
        .use(text()).in(RecallResult.Builder::setQueryId)
        .use(text()).in(RecallResult.Builder::setSpace)
        .use(Arbitraries.longs()).in(RecallResult.Builder::setTimestampMs)
        .use(hit.list().ofMaxSize(5)).in(RecallResult.Builder::setHits)
        .use(Arbitraries.of("zig", "java")).in(RecallResult.Builder::setKernelMode)
        .use(Arbitraries.longs()).in(RecallResult.Builder::setLatencyUs)
        .build(b -> (SpecificRecord) b.build());
    Arbitrary<ByteBuffer> raw = Arbitraries.bytes().array(byte[].class).ofMaxSize(24).map(ByteBuffer::wrap);
    Arbitrary<SpecificRecord> deadLetters = Builders.withBuilder(DeadLetter::newBuilder)
        .use(text()).in(DeadLetter.Builder::setSourceTopic)
        .use(Arbitraries.integers()).in(DeadLetter.Builder::setSourcePartition)
        .use(Arbitraries.longs()).in(DeadLetter.Builder::setSourceOffset)
        .use(raw.injectNull(0.3)).in(DeadLetter.Builder::setKey)
        .use(raw.injectNull(0.3)).in(DeadLetter.Builder::setValue)
        .use(Arbitraries.of(DecodeException.Reason.class).map(Enum::name)).in(DeadLetter.Builder::setReason)
        .use(text()).in(DeadLetter.Builder::setMessage)
        .use(Arbitraries.longs()).in(DeadLetter.Builder::setTimestampMs)
        .build(b -> (SpecificRecord) b.build());
    Arbitrary<SpecificRecord> controls = Builders.withBuilder(KernelControl::newBuilder)
        .use(Arbitraries.of("zig", "java")).in(KernelControl.Builder::setMode)
        .use(text()).in(KernelControl.Builder::setReason)
        .use(text()).in(KernelControl.Builder::setIssuedBy)
        .use(Arbitraries.longs()).in(KernelControl.Builder::setTimestampMs)
        .use(text().list().ofMaxSize(4)).withProbability(0.7).in(KernelControl.Builder::setSpaces)
        .use(Arbitraries.doubles().between(0, false, 1, true).injectNull(0.5)).in(KernelControl.Builder::setFraction)
        .build(b -> (SpecificRecord) b.build());
    return Arbitraries.oneOf(events, queries, results, deadLetters, controls);
  }

  // ------------------------------------------------------------------------------------ helpers

  static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  static byte[] toBytes(List<Integer> values) {
    byte[] out = new byte[values.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = (byte) (int) values.get(i);
    }
    return out;
  }

}
