package io.engram.schemas;

import java.util.List;
import org.apache.avro.Schema;

/**
 * Walks an Avro binary body against its writer schema without decoding or allocating anything, and rejects it
 * unless it is structurally sound: every varint well formed, every union and enum index in range, every string,
 * bytes and fixed length non-negative and within the remaining input, every array/map block count small enough
 * that its items can fit in the remaining input, every block byte-size (negative-count blocks) exact, and no
 * trailing bytes.
 *
 * <p>This runs before Avro's own decoder sees the bytes. Avro trusts length prefixes up to its global limits
 * (system properties {@code org.apache.avro.limits.*}, default ~2 GiB, read once per JVM), so a 15-byte message
 * claiming a 2 GiB string would make it allocate 2 GiB. After this walk, every allocation Avro makes is bounded by
 * the size of the input, without touching JVM-wide settings (a Flink TaskManager JVM is shared).
 *
 * <p>Every item of every engram schema encodes to at least one byte, so requiring "item count &lt;= remaining bytes"
 * rejects no valid engram record. Stateless and thread-safe; the success path allocates nothing.
 */
final class BodyValidator {

  private BodyValidator() {}

  /** Thrown while walking; carries the byte offset and, once unwound, the field path. No stack trace (cheap). */
  static final class Invalid extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final int offset;
    private String path = "";

    Invalid(String message, int offset) {
      super(message, null, false, false);
      this.offset = offset;
    }

    void prepend(String segment) {
      if (path.isEmpty()) {
        path = segment;
      } else if (path.startsWith("[")) {
        path = segment + path;
      } else {
        path = segment + "." + path;
      }
    }

    String path() {
      return path.isEmpty() ? "<root>" : path;
    }
  }

  /**
   * Validates {@code buf[from, buf.length)} as exactly one datum of {@code writer}.
   *
   * @throws Invalid if it is not
   */
  static void validate(Schema writer, byte[] buf, int from) {
    Cursor c = new Cursor(buf, from);
    walk(writer, c);
    if (c.pos != buf.length) {
      throw new Invalid((buf.length - c.pos) + " trailing byte(s) after the end of the record", c.pos);
    }
  }

  /** Smallest number of bytes any datum of {@code s} encodes to. */
  static long minSize(Schema s) {
    switch (s.getType()) {
      case NULL:
        return 0;
      case FLOAT:
        return 4;
      case DOUBLE:
        return 8;
      case FIXED:
        return s.getFixedSize();
      case RECORD: {
        long sum = 0;
        for (Schema.Field f : s.getFields()) {
          sum += minSize(f.schema());
        }
        return sum;
      }
      default: // boolean, int, long, enum, string, bytes, array, map, union: at least one byte
        return 1;
    }
  }

  private static final class Cursor {
    final byte[] buf;
    int pos;

    Cursor(byte[] buf, int pos) {
      this.buf = buf;
      this.pos = pos;
    }

    int remaining() {
      return buf.length - pos;
    }

    void skip(long n, String what) {
      if (n < 0) {
        throw new Invalid("negative " + what + " " + n, pos);
      }
      if (n > remaining()) {
        throw new Invalid(what + " " + n + " exceeds the " + remaining() + " remaining byte(s) (truncated or corrupt)", pos);
      }
      pos += (int) n;
    }

    /** Zig-zag varint of at most {@code maxBytes} bytes, exactly as Avro's BinaryDecoder accepts it. */
    long varint(int maxBytes, String what) {
      int start = pos;
      long raw = 0;
      for (int i = 0; i < maxBytes; i++) {
        if (pos >= buf.length) {
          throw new Invalid("input ends inside " + what, start);
        }
        int b = buf[pos++] & 0xff;
        raw |= (long) (b & 0x7f) << (7 * i);
        if (b < 0x80) {
          return (raw >>> 1) ^ -(raw & 1);
        }
      }
      throw new Invalid("invalid varint for " + what + " (more than " + maxBytes + " bytes)", start);
    }

    int readInt(String what) {
      return (int) varint(5, what);
    }

    long readLong(String what) {
      return varint(10, what);
    }
  }

  private static void walk(Schema s, Cursor c) {
    switch (s.getType()) {
      case NULL:
        return;
      case BOOLEAN: {
        if (c.remaining() < 1) {
          throw new Invalid("input ends inside boolean", c.pos);
        }
        int b = c.buf[c.pos];
        if (b != 0 && b != 1) {
          throw new Invalid("invalid boolean byte " + b, c.pos);
        }
        c.pos++;
        return;
      }
      case INT:
        c.readInt("int");
        return;
      case LONG:
        c.readLong("long");
        return;
      case FLOAT:
        c.skip(4, "float of length");
        return;
      case DOUBLE:
        c.skip(8, "double of length");
        return;
      case FIXED:
        c.skip(s.getFixedSize(), "fixed of length");
        return;
      case STRING:
        c.skip(c.readLong("string length"), "string length");
        return;
      case BYTES:
        c.skip(c.readLong("bytes length"), "bytes length");
        return;
      case ENUM: {
        int at = c.pos;
        int i = c.readInt("enum index");
        if (i < 0 || i >= s.getEnumSymbols().size()) {
          throw new Invalid("enum index " + i + " out of range [0, " + s.getEnumSymbols().size() + ")", at);
        }
        return;
      }
      case UNION: {
        int at = c.pos;
        List<Schema> branches = s.getTypes();
        int i = c.readInt("union index");
        if (i < 0 || i >= branches.size()) {
          throw new Invalid("union index " + i + " out of range [0, " + branches.size() + ")", at);
        }
        Schema branch = branches.get(i);
        try {
          walk(branch, c);
        } catch (Invalid e) {
          if (branch.getType() == Schema.Type.RECORD) {
            e.prepend(branch.getName());
          }
          throw e;
        }
        return;
      }
      case RECORD:
        for (Schema.Field f : s.getFields()) {
          try {
            walk(f.schema(), c);
          } catch (Invalid e) {
            e.prepend(f.name());
            throw e;
          }
        }
        return;
      case ARRAY:
        blocks(s.getElementType(), false, c);
        return;
      case MAP:
        blocks(s.getValueType(), true, c);
        return;
      default:
        throw new Invalid("unsupported schema type " + s.getType(), c.pos);
    }
  }

  /** Array or map blocks: (count, [byteSize if count &lt; 0], items...)* terminated by a zero count. */
  private static void blocks(Schema item, boolean map, Cursor c) {
    long itemMin = map ? 1 + minSize(item) : minSize(item);
    boolean fixedWidth = !map && (item.getType() == Schema.Type.FLOAT || item.getType() == Schema.Type.DOUBLE);
    long index = 0;
    while (true) {
      int at = c.pos;
      long count = c.readLong("block count");
      if (count == 0) {
        return;
      }
      long declaredSize = -1;
      if (count < 0) {
        if (count == Long.MIN_VALUE) {
          throw new Invalid("invalid block count " + count, at);
        }
        count = -count;
        declaredSize = c.readLong("block byte size");
        if (declaredSize < 0 || declaredSize > c.remaining()) {
          throw new Invalid("block byte size " + declaredSize + " outside [0, " + c.remaining() + "] remaining", at);
        }
      }
      int remaining = c.remaining();
      if (count > remaining || (itemMin > 0 && count > remaining / itemMin)) {
        throw new Invalid("block of " + count + " item(s) cannot fit in the " + remaining
            + " remaining byte(s) (truncated, or a corrupt count)", at);
      }
      int blockStart = c.pos;
      if (fixedWidth) {
        c.skip(count * itemMin, "block of length");
      } else {
        for (long i = 0; i < count; i++, index++) {
          try {
            if (map) {
              c.skip(c.readLong("map key length"), "map key length");
            }
            walk(item, c);
          } catch (Invalid e) {
            e.prepend("[" + index + "]");
            throw e;
          }
        }
      }
      if (declaredSize >= 0 && c.pos - blockStart != declaredSize) {
        throw new Invalid("block declares " + declaredSize + " byte(s) but its items take " + (c.pos - blockStart), at);
      }
    }
  }
}
