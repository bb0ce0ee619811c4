package io.engram.schemas;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DatumReader;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.apache.avro.specific.SpecificRecordBase;

/**
 * Wire format of every engram topic: Avro's standard <em>single-object encoding</em>, i.e. the 2-byte marker
 * {@code C3 01}, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema
 * ({@link SchemaNormalization#parsingFingerprint64}) and the Avro binary body.
 *
 * <p>{@link #encode} writes any generated record with its current schema. The typed decoders
 * ({@link #decodeMemoryEvent} etc.) accept data written with the current schema <em>or any released version</em> of
 * it (the files {@code history/<Name>/v<N>.avsc}, shipped in this jar under {@value #HISTORY_RESOURCE_ROOT}) and
 * resolve it to the current schema, filling defaults for fields the writer did not have.
 *
 * <p>The decoders never throw anything but {@link DecodeException}, whatever the bytes; the body is checked
 * structurally (see {@code BodyValidator}) before Avro decodes it, so a huge length prefix can neither exhaust
 * memory nor hang, and trailing bytes are rejected.
 *
 * <p><b>Thread safety:</b> every method is static and thread-safe; nothing needs to be created per thread. Each
 * type's readers are shared instances (as Avro's own thread-safe {@code BinaryMessageDecoder} shares its reader;
 * the {@code BinaryDecoder} is thread-local), and every call returns a fresh record (no reuse), so a
 * decoded record can be handed to Flink and kept.
 */
public final class AvroCodec {

  /** The two marker bytes every single-object-encoded message starts with. */
  public static final byte MARKER_0 = (byte) 0xC3;

  /** Second marker byte (format version 1). */
  public static final byte MARKER_1 = (byte) 0x01;

  /** Length of the single-object header: 2 marker bytes + 8 fingerprint bytes. */
  public static final int HEADER_LENGTH = 10;

  /** Classpath folder of the released schema versions: {@code <root>/<Name>/v1.avsc, v2.avsc, ...}. */
  public static final String HISTORY_RESOURCE_ROOT = "io/engram/schemas/history";

  /** Fingerprint → human label ("MemoryEvent v1"), over every known version of every type; for error messages. */
  private static final Map<Long, String> LABELS = new ConcurrentHashMap<>();

  private static final Map<Class<?>, BinaryMessageEncoder<SpecificRecord>> ENCODERS = new ConcurrentHashMap<>();

  private static final TypedDecoder<MemoryEvent> MEMORY_EVENT =
      TypedDecoder.of(MemoryEvent.class, MemoryEvent.getClassSchema());
  private static final TypedDecoder<RecallQuery> RECALL_QUERY =
      TypedDecoder.of(RecallQuery.class, RecallQuery.getClassSchema());
  private static final TypedDecoder<RecallResult> RECALL_RESULT =
      TypedDecoder.of(RecallResult.class, RecallResult.getClassSchema());
  private static final TypedDecoder<DeadLetter> DEAD_LETTER =
      TypedDecoder.of(DeadLetter.class, DeadLetter.getClassSchema());
  private static final TypedDecoder<KernelControl> KERNEL_CONTROL =
      TypedDecoder.of(KernelControl.class, KernelControl.getClassSchema());

  private AvroCodec() {}

  // ---------------------------------------------------------------------------------------------- encoding

  /**
   * Encodes a generated record (any of this module's top-level types) with its current schema, single-object
   * encoded.
   *
   * @return a fresh array, owned by the caller
   * @throws NullPointerException if {@code record} is null
   * @throws IllegalArgumentException if the record cannot be encoded (e.g. a required field is null, or a
   *     union field holds a value of none of its branches)
   */
  public static byte[] encode(SpecificRecord record) {
    Objects.requireNonNull(record, "record");
    BinaryMessageEncoder<SpecificRecord> encoder =
        ENCODERS.computeIfAbsent(record.getClass(), c -> newEncoder(record));
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    try {
      encoder.encode(record, out);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // cannot happen with an in-memory stream
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "cannot encode " + record.getSchema().getName() + ": " + e.getMessage(), e);
    }
    return out.toByteArray();
  }

  private static BinaryMessageEncoder<SpecificRecord> newEncoder(SpecificRecord record) {
    SpecificData model = record instanceof SpecificRecordBase
        ? ((SpecificRecordBase) record).getSpecificData()
        : SpecificData.getForClass(record.getClass());
    return new BinaryMessageEncoder<>(model, record.getSchema());
  }

  // ---------------------------------------------------------------------------------------------- decoding

  /** Decodes a {@link MemoryEvent} written with its current or any released schema version. */
  public static MemoryEvent decodeMemoryEvent(byte[] bytes) throws DecodeException {
    return MEMORY_EVENT.decode(bytes);
  }

  /** Decodes a {@link RecallQuery} written with its current or any released schema version. */
  public static RecallQuery decodeRecallQuery(byte[] bytes) throws DecodeException {
    return RECALL_QUERY.decode(bytes);
  }

  /** Decodes a {@link RecallResult} written with its current or any released schema version. */
  public static RecallResult decodeRecallResult(byte[] bytes) throws DecodeException {
    return RECALL_RESULT.decode(bytes);
  }

  /** Decodes a {@link DeadLetter} written with its current or any released schema version. */
  public static DeadLetter decodeDeadLetter(byte[] bytes) throws DecodeException {
    return DEAD_LETTER.decode(bytes);
  }

  /** Decodes a {@link KernelControl} written with its current or any released schema version. */
  public static KernelControl decodeKernelControl(byte[] bytes) throws DecodeException {
    return KERNEL_CONTROL.decode(bytes);
  }

  /** The CRC-64-AVRO fingerprint of a schema, as it appears (little-endian) in the single-object header. */
  public static long fingerprint(Schema schema) {
    return SchemaNormalization.parsingFingerprint64(schema);
  }

  // ---------------------------------------------------------------------------------------------- history

  /**
   * The released versions of a schema, oldest first ({@code v1}, {@code v2}, ... until the first missing one),
   * read from the classpath under {@value #HISTORY_RESOURCE_ROOT}.
   *
   * @param name the simple record name, e.g. {@code "MemoryEvent"}
   * @throws IllegalStateException if a version file cannot be read or parsed
   */
  public static List<Schema> history(String name) {
    List<Schema> versions = new ArrayList<>();
    for (int v = 1; ; v++) {
      String path = "/" + HISTORY_RESOURCE_ROOT + "/" + name + "/v" + v + ".avsc";
      try (InputStream in = AvroCodec.class.getResourceAsStream(path)) {
        if (in == null) {
          break;
        }
        versions.add(new Schema.Parser().parse(in)); // a fresh parser per file: versions redefine the same names
      } catch (IOException | RuntimeException e) {
        throw new IllegalStateException("cannot read released schema " + path + ": " + e.getMessage(), e);
      }
    }
    return Collections.unmodifiableList(versions);
  }

  // ---------------------------------------------------------------------------------------------- internals

  private static String hexFingerprint(long fp) {
    return String.format("%016x", fp);
  }

  /** Little-endian long at {@code bytes[2..10)}, as Avro writes the fingerprint. */
  private static long readFingerprint(byte[] bytes) {
    long fp = 0;
    for (int i = 9; i >= 2; i--) {
      fp = (fp << 8) | (bytes[i] & 0xffL);
    }
    return fp;
  }

  /**
   * Decoder of one record type: the current schema as reader, every released version as a known writer.
   * Package-private so tests can build one that also knows a simulated older writer schema.
   */
  static final class TypedDecoder<T extends SpecificRecord> {
    /** Each thread's decoder, re-pointed at every input (it keeps no state between records). */
    private static final ThreadLocal<BinaryDecoder> BINARY_DECODER = new ThreadLocal<>();

    private final String name;
    /**
     * One reader per known writer fingerprint, resolving to the current schema. Avro's {@code BinaryMessageDecoder}
     * would decode through an unbuffered {@code DirectBinaryDecoder} over a stream (a virtual call per byte, 6.5% of
     * the memory operator's samples at 80% load with 768d cues); these read the array through a buffered
     * {@link BinaryDecoder}. A {@link DatumReader} is shared by threads as {@code BinaryMessageDecoder} shares its
     * own; the decoder is per thread.
     */
    private final Map<Long, DatumReader<T>> readers;
    /** Known writer schemas by fingerprint (current + released versions + extras). */
    private final Map<Long, Schema> writers;
    /** Human label of each known writer fingerprint, e.g. "MemoryEvent v1". */
    private final Map<Long, String> labels;

    private TypedDecoder(String name, Map<Long, DatumReader<T>> readers, Map<Long, Schema> writers,
        Map<Long, String> labels) {
      this.name = name;
      this.readers = readers;
      this.writers = writers;
      this.labels = labels;
    }

    /** The shipped decoder of a type; also publishes its fingerprints' labels for other types' error messages. */
    static <T extends SpecificRecord> TypedDecoder<T> of(
        Class<T> type, Schema current) {
      TypedDecoder<T> decoder = withExtraWriters(type, current, List.of());
      LABELS.putAll(decoder.labels);
      return decoder;
    }

    /**
     * A decoder for {@code type} knowing the current schema, every released version, and {@code extraWriters}.
     *
     * @throws IllegalStateException if a released or extra schema is not a version of this type, or the current
     *     schema cannot read data written with it
     */
    static <T extends SpecificRecord> TypedDecoder<T> withExtraWriters(
        Class<T> type,
        Schema current,
        List<Schema> extraWriters) {
      String name = current.getName();
      if (!type.getName().equals(current.getFullName())) {
        throw new IllegalStateException(type.getName() + " is not the class of schema " + current.getFullName());
      }
      SpecificData model = SpecificData.getForClass(type); // the generated class's own model (its MODEL$)
      Map<Long, DatumReader<T>> readers = new HashMap<>();
      Map<Long, Schema> writers = new LinkedHashMap<>();
      Map<Long, String> labels = new HashMap<>();
      writers.put(fingerprint(current), current);
      labels.put(fingerprint(current), name + " (current)");

      List<Schema> released = history(name);
      List<Schema> all = new ArrayList<>(released);
      all.addAll(extraWriters);
      for (int i = 0; i < all.size(); i++) {
        Schema writer = all.get(i);
        String label = i < released.size() ? name + " v" + (i + 1) : name + " (extra writer " + (i - released.size()) + ")";
        if (!writer.getFullName().equals(current.getFullName())) {
          throw new IllegalStateException(label + " is a schema of " + writer.getFullName() + ", not " + current.getFullName());
        }
        SchemaCompatibility.SchemaPairCompatibility compat =
            SchemaCompatibility.checkReaderWriterCompatibility(current, writer);
        if (compat.getType() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
          throw new IllegalStateException(
              "the current " + name + " schema cannot read data written with " + label + ": " + compat.getDescription());
        }
        long fp = fingerprint(writer);
        if (!writers.containsKey(fp)) {
          writers.put(fp, writer);
        }
        labels.put(fp, label); // the released version number is the most useful name for a fingerprint
      }
      for (Map.Entry<Long, Schema> w : writers.entrySet()) {
        @SuppressWarnings("unchecked")
        DatumReader<T> reader = (DatumReader<T>) model.createDatumReader(w.getValue(), current);
        readers.put(w.getKey(), reader);
      }
      return new TypedDecoder<>(name, Map.copyOf(readers), Map.copyOf(writers), Map.copyOf(labels));
    }

    T decode(byte[] bytes) {
      if (bytes == null || bytes.length == 0) {
        throw new DecodeException(DecodeException.Reason.EMPTY,
            "cannot decode " + name + ": " + (bytes == null ? "null input" : "zero bytes"));
      }
      if (bytes[0] != MARKER_0 || (bytes.length > 1 && bytes[1] != MARKER_1)) {
        throw new DecodeException(DecodeException.Reason.BAD_HEADER,
            "cannot decode " + name + ": input does not start with the Avro single-object marker C3 01 (starts with "
                + startHex(bytes) + ", " + bytes.length + " byte(s))");
      }
      if (bytes.length < HEADER_LENGTH) {
        throw new DecodeException(DecodeException.Reason.BAD_HEADER,
            "cannot decode " + name + ": only " + bytes.length + " byte(s), the single-object header alone takes "
                + HEADER_LENGTH);
      }
      long fp = readFingerprint(bytes);
      Schema writer = writers.get(fp);
      if (writer == null) {
        String other = LABELS.get(fp);
        throw new DecodeException(DecodeException.Reason.UNKNOWN_SCHEMA,
            "cannot decode " + name + ": unknown writer schema fingerprint " + hexFingerprint(fp)
                + (other != null ? " (that is " + other + ")" : " (no known version of any engram schema)"));
      }
      try {
        BodyValidator.validate(writer, bytes, HEADER_LENGTH);
      } catch (BodyValidator.Invalid e) {
        throw new DecodeException(DecodeException.Reason.UNDECODABLE,
            "cannot decode " + name + " (written with " + labels.get(fp) + "): "
                + e.getMessage() + " at " + e.path() + ", byte " + e.offset + " of " + bytes.length);
      }
      try {
        BinaryDecoder in = DecoderFactory.get().binaryDecoder(bytes, HEADER_LENGTH, bytes.length - HEADER_LENGTH,
            BINARY_DECODER.get());
        BINARY_DECODER.set(in);
        return readers.get(fp).read(null, in);
      } catch (IOException | AvroRuntimeException e) {
        throw new DecodeException(DecodeException.Reason.UNDECODABLE,
            "cannot decode " + name + ": " + e.getMessage(), e);
      } catch (RuntimeException e) { // IndexOutOfBounds, NegativeArraySize, ClassCast, ... on corrupt input
        throw new DecodeException(DecodeException.Reason.UNDECODABLE,
            "cannot decode " + name + ": " + e, e);
      }
    }

    private static String startHex(byte[] bytes) {
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < Math.min(2, bytes.length); i++) {
        sb.append(String.format("%02X", bytes[i] & 0xff));
        if (i == 0 && bytes.length > 1) {
          sb.append(' ');
        }
      }
      return sb.toString();
    }
  }
}
