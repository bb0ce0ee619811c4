package io.engram.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class AvroCodecRoundTripTest {

  static Stream<SpecificRecord> samples() {
    return Fixtures.samples().stream();
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("samples")
  void everySampleRoundTripsThroughItsTypedDecoder(SpecificRecord record) {
    byte[] bytes = AvroCodec.encode(record);
    SpecificRecord decoded = Fixtures.DECODERS.get(Fixtures.typeOf(record)).apply(bytes);

    assertThat(decoded).isInstanceOf(record.getClass()).isEqualTo(record);
    assertThat(AvroCodec.encode(decoded)).isEqualTo(bytes);
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("samples")
  void headerIsSingleObjectMarkerPlusLittleEndianFingerprint(SpecificRecord record) {
    byte[] bytes = AvroCodec.encode(record);

    assertThat(bytes[0]).isEqualTo((byte) 0xC3);
    assertThat(bytes[1]).isEqualTo((byte) 0x01);
    long fp = ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertThat(fp).isEqualTo(AvroCodec.fingerprint(record.getSchema()));
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("samples")
  void bytesAreInterchangeableWithAvrosGeneratedEncoders(SpecificRecord record) throws Exception {
    // What AvroCodec writes is exactly what the generated toByteBuffer() writes, and fromByteBuffer() reads it back.
    ByteBuffer generated = (ByteBuffer) record.getClass().getMethod("toByteBuffer").invoke(record);
    byte[] generatedBytes = new byte[generated.remaining()];
    generated.get(generatedBytes);
    byte[] ours = AvroCodec.encode(record);

    assertThat(ours).isEqualTo(generatedBytes);
    Object back = record.getClass().getMethod("fromByteBuffer", ByteBuffer.class).invoke(null, ByteBuffer.wrap(ours));
    assertThat(back).isEqualTo(record);
  }

  @Test
  void everyPayloadBranchKeepsItsType() {
    assertThat(AvroCodec.decodeMemoryEvent(AvroCodec.encode(Fixtures.storeFull())).getPayload()).isInstanceOf(StoreMemory.class);
    assertThat(AvroCodec.decodeMemoryEvent(AvroCodec.encode(Fixtures.reinforce())).getPayload()).isInstanceOf(ReinforceMemory.class);
    assertThat(AvroCodec.decodeMemoryEvent(AvroCodec.encode(Fixtures.associate())).getPayload()).isInstanceOf(Associate.class);
    assertThat(AvroCodec.decodeMemoryEvent(AvroCodec.encode(Fixtures.forget())).getPayload()).isInstanceOf(Forget.class);
  }

  @Test
  void builderDefaultsAreTheSchemaDefaults() {
    StoreMemory store = (StoreMemory) Fixtures.storeDefaults().getPayload();
    assertThat(store.getStrength()).isEqualTo(1.0f);
    assertThat(store.getStabilityS()).isNull();
    assertThat(store.getContent()).isNull();
    assertThat(((Associate) Fixtures.associateDefaults().getPayload()).getBidirectional()).isFalse();

    RecallQuery q = Fixtures.queryDefaults();
    assertThat(q.getK()).isEqualTo(10);
    assertThat(q.getMaxHops()).isNull();
    assertThat(q.getHopDecay()).isNull();
    assertThat(q.getThreshold()).isNull();
    assertThat(q.getSeedK()).isNull();

    KernelControl c = Fixtures.controlAll();
    assertThat(c.getSpaces()).isEmpty();
    assertThat(c.getFraction()).isNull();

    DeadLetter d = Fixtures.deadLetterNulls();
    assertThat(d.getKey()).isNull();
    assertThat(d.getValue()).isNull();
  }

  @Test
  void specialFloatsAndUnicodeSurvive() {
    MemoryEvent back = AvroCodec.decodeMemoryEvent(AvroCodec.encode(Fixtures.storeFull()));
    StoreMemory s = (StoreMemory) back.getPayload();
    assertThat(s.getEmbedding()).containsExactly(0.25f, -1.5f, 0f, -0f, Float.MAX_VALUE, Float.MIN_VALUE, Float.NaN,
        Float.POSITIVE_INFINITY);
    assertThat(Float.floatToRawIntBits(s.getEmbedding().get(3))).isEqualTo(Float.floatToRawIntBits(-0f));
    assertThat(s.getContent()).isEqualTo("héllo wörld 🧠 — 記憶");
  }

  @Test
  void deadLetterBytesSurviveExactly() {
    DeadLetter original = Fixtures.deadLetterFull();
    DeadLetter back = AvroCodec.decodeDeadLetter(AvroCodec.encode(original));
    assertThat(toArray(back.getValue())).containsExactly(0, 1, 2, 0xff, 0xC3, 0x01);
    assertThat(toArray(back.getKey())).isEqualTo("space_01".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    // encoding did not consume the caller's buffers
    assertThat(original.getValue().remaining()).isEqualTo(6);
  }

  @Test
  void fingerprintsDifferPerSchema() {
    Set<Long> fingerprints = new HashSet<>();
    for (String name : Fixtures.NAMES) {
      fingerprints.add(AvroCodec.fingerprint(Fixtures.CURRENT.get(name)));
    }
    assertThat(fingerprints).hasSize(Fixtures.NAMES.size());

    Set<String> headers = new HashSet<>();
    for (SpecificRecord r : Fixtures.samples()) {
      byte[] b = AvroCodec.encode(r);
      headers.add(Fixtures.typeOf(r) + "=" + Fixtures.hex(java.util.Arrays.copyOf(b, AvroCodec.HEADER_LENGTH)));
    }
    assertThat(headers).hasSize(Fixtures.NAMES.size()); // one header per type, whatever the values
  }

  @Test
  void encodeRejectsInvalidRecordsWithIllegalArgument() {
    MemoryEvent missingSpace = new MemoryEvent(null, "e", 1L, new Forget("m"));
    assertThatThrownBy(() -> AvroCodec.encode(missingSpace))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("MemoryEvent");

    MemoryEvent wrongPayload = new MemoryEvent("space", "e", 1L, "not a payload record");
    assertThatThrownBy(() -> AvroCodec.encode(wrongPayload)).isInstanceOf(IllegalArgumentException.class);

    assertThatThrownBy(() -> AvroCodec.encode(null)).isInstanceOf(NullPointerException.class);
  }

  @Test
  void encodeReturnsFreshArrays() {
    byte[] a = AvroCodec.encode(Fixtures.forget());
    byte[] b = AvroCodec.encode(Fixtures.forget());
    assertThat(a).isEqualTo(b).isNotSameAs(b);
    a[5] ^= 1;
    assertThat(AvroCodec.encode(Fixtures.forget())).isEqualTo(b);
  }

  @Test
  void decodersAreSafeToShareAcrossThreads() throws Exception {
    List<SpecificRecord> samples = Fixtures.samples();
    List<byte[]> encoded = new ArrayList<>();
    for (SpecificRecord r : samples) {
      encoded.add(AvroCodec.encode(r));
    }
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<Integer>> futures = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        final int offset = t;
        futures.add(pool.submit(() -> {
          int checked = 0;
          for (int i = 0; i < 3_000; i++) {
            int j = (i + offset) % samples.size();
            SpecificRecord r = samples.get(j);
            assertThat(Fixtures.DECODERS.get(Fixtures.typeOf(r)).apply(encoded.get(j))).isEqualTo(r);
            assertThat(AvroCodec.encode(r)).isEqualTo(encoded.get(j));
            checked++;
          }
          return checked;
        }));
      }
      for (Future<Integer> f : futures) {
        assertThat(f.get(60, TimeUnit.SECONDS)).isEqualTo(3_000);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static byte[] toArray(ByteBuffer buffer) {
    ByteBuffer b = buffer.duplicate();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }
}
