package io.engram.schemas;

import java.util.Objects;

/**
 * The only exception {@link AvroCodec}'s decoders throw: the bytes are not a record of the requested type.
 *
 * <p>Unchecked on purpose: callers on a hot path (Flink deserializers) catch it in one place and route the raw
 * record to the dead-letter topic, using {@link #reason()} as the {@code DeadLetter.reason} code and
 * {@link #getMessage()} as its human-readable {@code message}.
 */
public final class DecodeException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** Why bytes could not be decoded. The names are stable: they are written into {@code DeadLetter.reason}. */
  public enum Reason {
    /** The input was {@code null} or had zero bytes (e.g. a Kafka tombstone). */
    EMPTY,
    /** The input does not start with a complete Avro single-object header (marker {@code C3 01} + 8-byte fingerprint). */
    BAD_HEADER,
    /**
     * The header's schema fingerprint is not the current or any released version of the requested type: data of
     * another type, of a schema this build does not know yet, or a corrupted fingerprint.
     */
    UNKNOWN_SCHEMA,
    /** The header is fine but the body is not a valid encoding: truncated, trailing bytes, garbage, absurd lengths. */
    UNDECODABLE
  }

  private final Reason reason;

  public DecodeException(Reason reason, String message) {
    super(message);
    this.reason = Objects.requireNonNull(reason, "reason");
  }

  public DecodeException(Reason reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = Objects.requireNonNull(reason, "reason");
  }

  /** Why decoding failed; never {@code null}. */
  public Reason reason() {
    return reason;
  }

  @Override
  public String toString() {
    return "DecodeException[" + reason + "]: " + getMessage();
  }
}
