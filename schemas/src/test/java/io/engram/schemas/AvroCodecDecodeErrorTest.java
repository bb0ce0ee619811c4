package io.engram.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.engram.schemas.DecodeException.Reason;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class AvroCodecDecodeErrorTest {

  static Stream<String> names() {
    return Fixtures.NAMES.stream();
  }

  static Stream<SpecificRecord> samples() {
    return Fixtures.samples().stream();
  }

  private static DecodeException decodeFailure(String type, byte[] bytes) {
    Function<byte[], SpecificRecord> decoder = Fixtures.DECODERS.get(type);
    Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> decoder.apply(bytes));
    assertThat(t).as("decoding %s from %s", type, bytes == null ? "null" : Fixtures.hex(bytes))
        .isInstanceOf(DecodeException.class);
    DecodeException e = (DecodeException) t;
    assertThat(e.reason()).isNotNull();
    assertThat(e.getMessage()).isNotBlank().contains(type);
    return e;
  }

  // ------------------------------------------------------------------------------------ EMPTY, BAD_HEADER

  @ParameterizedTest
  @MethodSource("names")
  void nullAndZeroBytesAreEmpty(String type) {
    assertThat(decodeFailure(type, null).reason()).isEqualTo(Reason.EMPTY);
    assertThat(decodeFailure(type, new byte[0]).reason()).isEqualTo(Reason.EMPTY);
  }

  @ParameterizedTest
  @MethodSource("names")
  void garbageWithoutMarkerIsBadHeader(String type) {
    assertThat(decodeFailure(type, "{\"space\":\"json is not avro\"}".getBytes(StandardCharsets.UTF_8)).reason())
        .isEqualTo(Reason.BAD_HEADER);
    assertThat(decodeFailure(type, new byte[] {0x00}).reason()).isEqualTo(Reason.BAD_HEADER);
    assertThat(decodeFailure(type, new byte[] {(byte) 0xC3}).reason()).isEqualTo(Reason.BAD_HEADER);
    assertThat(decodeFailure(type, new byte[] {(byte) 0xC3, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 9}).reason())
        .isEqualTo(Reason.BAD_HEADER);
    // Confluent wire format (magic 0, 4-byte schema id) is not ours either
    DecodeException confluent = decodeFailure(type, new byte[] {0, 0, 0, 0, 42, 2, 'a'});
    assertThat(confluent.reason()).isEqualTo(Reason.BAD_HEADER);
    assertThat(confluent.getMessage()).contains("C3 01").contains("00 00");
  }

  // ------------------------------------------------------------------------------------ truncation, trailing bytes

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("samples")
  void everyStrictPrefixOfAValidRecordIsRejected(SpecificRecord record) {
    byte[] full = AvroCodec.encode(record);
    String type = Fixtures.typeOf(record);
    for (int len = 0; len < full.length; len++) {
      Reason expected = len == 0 ? Reason.EMPTY : len < AvroCodec.HEADER_LENGTH ? Reason.BAD_HEADER : Reason.UNDECODABLE;
      assertThat(decodeFailure(type, Arrays.copyOf(full, len)).reason()).as("prefix of %d/%d bytes", len, full.length)
          .isEqualTo(expected);
    }
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("samples")
  void trailingBytesAreRejected(SpecificRecord record) {
    byte[] full = AvroCodec.encode(record);
    DecodeException e = decodeFailure(Fixtures.typeOf(record), Arrays.copyOf(full, full.length + 1));
    assertThat(e.reason()).isEqualTo(Reason.UNDECODABLE);
    assertThat(e.getMessage()).contains("trailing");
  }

  // ------------------------------------------------------------------------------------ UNKNOWN_SCHEMA

  static Stream<Arguments> crossTypePairs() {
    return Fixtures.samples().stream().flatMap(r -> Fixtures.NAMES.stream()
        .filter(n -> !n.equals(Fixtures.typeOf(r)))
        .map(n -> Arguments.of(r, n)));
  }

  @ParameterizedTest(name = "[{index}] {0} -> decode{1}")
  @MethodSource("crossTypePairs")
  void aRecordOfOneTypeFedToAnotherTypesDecoderIsUnknownSchema(SpecificRecord record, String decoderType) {
    DecodeException e = decodeFailure(decoderType, AvroCodec.encode(record));
    assertThat(e.reason()).isEqualTo(Reason.UNKNOWN_SCHEMA);
    assertThat(e.getMessage()).as("names what the data actually is").contains(Fixtures.typeOf(record));
  }

  @ParameterizedTest
  @MethodSource("names")
  void anUnknownFingerprintIsUnknownSchema(String type) {
    byte[] bytes = Fixtures.Raw.header(0x0123456789abcdefL).string("whatever").build();
    DecodeException e = decodeFailure(type, bytes);
    assertThat(e.reason()).isEqualTo(Reason.UNKNOWN_SCHEMA);
    assertThat(e.getMessage()).contains("0123456789abcdef");
  }

  // ------------------------------------------------------------------------------------ UNDECODABLE bodies

  @ParameterizedTest
  @MethodSource("names")
  void garbageBodyBehindAValidHeaderIsUndecodable(String type) {
    byte[] bytes = Fixtures.Raw.header(Fixtures.CURRENT.get(type))
        .bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).build();
    assertThat(decodeFailure(type, bytes).reason()).isEqualTo(Reason.UNDECODABLE);
    byte[] headerOnly = Fixtures.Raw.header(Fixtures.CURRENT.get(type)).build();
    assertThat(decodeFailure(type, headerOnly).reason()).isEqualTo(Reason.UNDECODABLE);
  }

  @Test
  void unionIndexOutOfRangeIsUndecodable() {
    byte[] bytes = Fixtures.Raw.header(MemoryEvent.getClassSchema())
        .string("space_01").string("e1").varlong(5).varlong(4) // payload branch 4 of 0..3
        .string("m1").build();
    DecodeException e = decodeFailure("MemoryEvent", bytes);
    assertThat(e.reason()).isEqualTo(Reason.UNDECODABLE);
    assertThat(e.getMessage()).contains("union index 4").contains("payload");
  }

  @Test
  void invalidBooleanIsUndecodable() {
    byte[] bytes = Fixtures.Raw.header(MemoryEvent.getClassSchema())
        .string("space_01").string("e1").varlong(5).varlong(2) // Associate
        .string("a").string("b").bytes(0, 0, 0, 0).bytes(7).build();
    DecodeException e = decodeFailure("MemoryEvent", bytes);
    assertThat(e.reason()).isEqualTo(Reason.UNDECODABLE);
    assertThat(e.getMessage()).contains("payload.Associate.bidirectional");
  }

  // ------------------------------------------------------------------------------------ huge length prefixes

  static final long[] HUGE = {Integer.MAX_VALUE - 8L, Integer.MAX_VALUE, 1L << 40, Long.MAX_VALUE, -1, Long.MIN_VALUE};

  static Stream<Arguments> hugeLengthInputs() {
    Stream.Builder<Arguments> cases = Stream.builder();
    for (long n : HUGE) {
      // first field of every type is a string
      for (String type : Fixtures.NAMES) {
        cases.add(Arguments.of(type, "first string length " + n,
            Fixtures.Raw.header(Fixtures.CURRENT.get(type)).varlong(n).bytes('a', 'b', 'c').build()));
      }
      cases.add(Arguments.of("MemoryEvent", "embedding count " + n, storeHeader().varlong(n).bytes(0, 0, 0, 0).build()));
      cases.add(Arguments.of("MemoryEvent", "embedding negative block count, byte size " + n,
          storeHeader().varlong(-1_000_000).varlong(n).bytes(0, 0, 0, 0).build()));
      cases.add(Arguments.of("MemoryEvent", "content length " + n, storeHeader().varlong(0)
          .bytes(0, 0, 0x80, 0x3f).varlong(0).varlong(1).varlong(n).bytes('x').build()));
      cases.add(Arguments.of("RecallQuery", "cue count " + n, Fixtures.Raw.header(RecallQuery.getClassSchema())
          .string("q").string("space_01").varlong(1).varlong(n).bytes(0, 0, 0, 0).build()));
      cases.add(Arguments.of("RecallResult", "hits count " + n, Fixtures.Raw.header(RecallResult.getClassSchema())
          .string("q").string("space_01").varlong(1).varlong(n).string("m").build()));
      cases.add(Arguments.of("DeadLetter", "key bytes length " + n, Fixtures.Raw.header(DeadLetter.getClassSchema())
          .string("t").varlong(0).varlong(0).varlong(1).varlong(n).bytes(1, 2, 3).build()));
      cases.add(Arguments.of("KernelControl", "spaces count " + n, Fixtures.Raw.header(KernelControl.getClassSchema())
          .string("java").string("r").string("me").varlong(1).varlong(n).string("s").build()));
    }
    return cases.build();
  }

  private static Fixtures.Raw storeHeader() {
    return Fixtures.Raw.header(MemoryEvent.getClassSchema()).string("space_01").string("e1").varlong(5).varlong(0)
        .string("m1");
  }

  @ParameterizedTest(name = "[{index}] {0}: {1}")
  @MethodSource("hugeLengthInputs")
  void hugeLengthPrefixesAreRejectedWithoutAllocatingOrHanging(String type, String what, byte[] bytes) {
    com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    decodeFailure(type, bytes); // warm-up (class loading allocates)
    DecodeException e = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
      long before = threads.getCurrentThreadAllocatedBytes();
      DecodeException failure = decodeFailure(type, bytes);
      long allocated = threads.getCurrentThreadAllocatedBytes() - before;
      assertThat(allocated).as("bytes allocated decoding %s", what).isLessThan(1_000_000L);
      return failure;
    });
    assertThat(e.reason()).isEqualTo(Reason.UNDECODABLE);
  }

  // ------------------------------------------------------------------------------------ the exception itself

  @Test
  void decodeExceptionCarriesReasonAndCause() {
    DecodeException e = new DecodeException(Reason.UNDECODABLE, "msg", new IllegalStateException("x"));
    assertThat(e).isInstanceOf(RuntimeException.class).hasMessage("msg").hasCauseInstanceOf(IllegalStateException.class);
    assertThat(e.reason()).isEqualTo(Reason.UNDECODABLE);
    assertThat(e.toString()).contains("UNDECODABLE").contains("msg");
    assertThatThrownBy(() -> new DecodeException(null, "m")).isInstanceOf(NullPointerException.class);
    assertThat(Reason.values()).extracting(Enum::name)
        .containsExactly("EMPTY", "BAD_HEADER", "UNKNOWN_SCHEMA", "UNDECODABLE");
  }

  @Test
  void theSchemaDocPointsAtTheReasonCodes() {
    Schema.Field reason = DeadLetter.getClassSchema().getField("reason");
    for (Reason r : Reason.values()) {
      assertThat(reason.doc()).contains(r.name());
    }
    assertThat(List.of(Reason.values())).hasSize(4);
  }
}
