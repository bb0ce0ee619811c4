package io.engram.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.avro.JsonProperties;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.SchemaCompatibility.SchemaPairCompatibility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The current schema of every type (the reader) must read data written with every released version (the writers)
 * in {@code schemas/history/<Name>/v<N>.avsc}; the newest released version must equal the current schema or be a
 * compatible predecessor of it. Plus: the checker really does catch breaking changes.
 */
class SchemaCompatibilityTest {

  static final Path HISTORY = Paths.get("history");
  static final Path SOURCES = Paths.get("src", "main", "avro");
  private static final Pattern VERSION_FILE = Pattern.compile("v([1-9][0-9]*)\\.avsc");

  static Stream<String> names() {
    return Fixtures.NAMES.stream();
  }

  /** The released versions on disk, oldest first; asserts they are named v1..vN without gaps. */
  static List<Schema> releasedOnDisk(String name) throws IOException {
    Path dir = HISTORY.resolve(name);
    assertThat(dir).as("history folder of %s", name).isDirectory();
    List<Integer> versions;
    try (Stream<Path> files = Files.list(dir)) {
      versions = files.map(p -> p.getFileName().toString())
          .map(f -> {
            Matcher m = VERSION_FILE.matcher(f);
            assertThat(m.matches()).as("file %s/%s is named v<N>.avsc", name, f).isTrue();
            return Integer.parseInt(m.group(1));
          })
          .sorted()
          .collect(Collectors.toList());
    }
    assertThat(versions).as("versions of %s", name).isNotEmpty();
    for (int i = 0; i < versions.size(); i++) {
      assertThat(versions.get(i)).as("versions of %s are v1..vN without gaps", name).isEqualTo(i + 1);
    }
    List<Schema> schemas = new ArrayList<>();
    for (int v : versions) {
      schemas.add(new Schema.Parser().parse(dir.resolve("v" + v + ".avsc").toFile()));
    }
    return schemas;
  }

  private static SchemaPairCompatibility check(Schema reader, Schema writer) {
    return SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
  }

  // ------------------------------------------------------------------------------------ the real schemas

  @ParameterizedTest
  @MethodSource("names")
  void currentSchemaReadsDataWrittenWithEveryReleasedVersion(String name) throws IOException {
    Schema current = Fixtures.CURRENT.get(name);
    List<Schema> released = releasedOnDisk(name);
    for (int i = 0; i < released.size(); i++) {
      Schema writer = released.get(i);
      assertThat(writer.getFullName()).isEqualTo(current.getFullName());
      SchemaPairCompatibility result = check(current, writer);
      assertThat(result.getType()).as("current %s reading data written with v%d: %s", name, i + 1,
          result.getDescription()).isEqualTo(SchemaCompatibilityType.COMPATIBLE);
    }
  }

  @ParameterizedTest
  @MethodSource("names")
  void everyReleasedVersionReadsEveryEarlierOne(String name) throws IOException {
    List<Schema> released = releasedOnDisk(name);
    for (int r = 0; r < released.size(); r++) {
      for (int w = 0; w < r; w++) {
        SchemaPairCompatibility result = check(released.get(r), released.get(w));
        assertThat(result.getType()).as("%s v%d reading v%d: %s", name, r + 1, w + 1, result.getDescription())
            .isEqualTo(SchemaCompatibilityType.COMPATIBLE);
      }
    }
  }

  /** The current schema as written in src/main/avro (the generated SCHEMA$ also carries avro.java.string props). */
  static Schema source(String name) throws IOException {
    return new Schema.Parser().parse(SOURCES.resolve(name + ".avsc").toFile());
  }

  /** The generated class's schema without the "avro.java.string" properties the compiler adds for stringType=String. */
  static Schema generatedWithoutJavaProps(String name) {
    String json = Fixtures.CURRENT.get(name).toString()
        .replace("{\"type\":\"string\",\"avro.java.string\":\"String\"}", "\"string\"");
    assertThat(json).doesNotContain("avro.java.string");
    return new Schema.Parser().parse(json);
  }

  @ParameterizedTest
  @MethodSource("names")
  void newestReleasedVersionEqualsOrIsACompatiblePredecessorOfCurrent(String name) throws IOException {
    Schema current = source(name);
    List<Schema> released = releasedOnDisk(name);
    Schema newest = released.get(released.size() - 1);
    if (!newest.equals(current)) {
      assertThat(check(current, newest).getType())
          .as("current %s differs from its newest release v%d, so it must be able to read it", name, released.size())
          .isEqualTo(SchemaCompatibilityType.COMPATIBLE);
      assertThat(AvroCodec.fingerprint(newest)).as("a changed schema has a new fingerprint")
          .isNotEqualTo(AvroCodec.fingerprint(current));
    }
  }

  @ParameterizedTest
  @MethodSource("names")
  void generatedClassesAreBuiltFromTheSourceSchemas(String name) throws IOException {
    Schema source = source(name);
    // equal including docs, defaults and field order, not only in parsing canonical form
    assertThat(generatedWithoutJavaProps(name)).isEqualTo(source);
    assertThat(AvroCodec.fingerprint(source)).isEqualTo(AvroCodec.fingerprint(Fixtures.CURRENT.get(name)));
  }

  @ParameterizedTest
  @MethodSource("names")
  void theJarShipsExactlyTheReleasedVersionsOnDisk(String name) throws IOException {
    assertThat(AvroCodec.history(name)).isEqualTo(releasedOnDisk(name));
  }

  @ParameterizedTest
  @MethodSource("names")
  void everyRecordAndFieldIsDocumented(String name) {
    assertDocumented(Fixtures.CURRENT.get(name), name);
  }

  private static void assertDocumented(Schema s, String path) {
    switch (s.getType()) {
      case RECORD:
        assertThat(s.getDoc()).as("doc of record %s", path).isNotBlank();
        for (Schema.Field f : s.getFields()) {
          assertThat(f.doc()).as("doc of field %s.%s", path, f.name()).isNotBlank();
          assertDocumented(f.schema(), path + "." + f.name());
        }
        break;
      case UNION:
        s.getTypes().forEach(t -> assertDocumented(t, path));
        break;
      case ARRAY:
        assertDocumented(s.getElementType(), path + "[]");
        break;
      case MAP:
        assertDocumented(s.getValueType(), path + "{}");
        break;
      default:
        break;
    }
  }

  @Test
  void optionalFieldsPutNullFirstAndDefaultToNull() {
    for (String name : Fixtures.NAMES) {
      forEachField(Fixtures.CURRENT.get(name), f -> {
        if (f.schema().getType() == Schema.Type.UNION && f.schema().getTypes().stream().anyMatch(t -> t.getType() == Schema.Type.NULL)) {
          assertThat(f.schema().getTypes().get(0).getType()).as("null first in %s", f.name()).isEqualTo(Schema.Type.NULL);
          assertThat(f.defaultVal()).as("default of %s", f.name()).isEqualTo(JsonProperties.NULL_VALUE);
        }
      });
    }
  }

  private static void forEachField(Schema s, java.util.function.Consumer<Schema.Field> action) {
    if (s.getType() == Schema.Type.RECORD) {
      for (Schema.Field f : s.getFields()) {
        action.accept(f);
        forEachField(f.schema(), action);
      }
    } else if (s.getType() == Schema.Type.UNION) {
      s.getTypes().forEach(t -> forEachField(t, action));
    } else if (s.getType() == Schema.Type.ARRAY) {
      forEachField(s.getElementType(), action);
    }
  }

  // ------------------------------------------------------------------------------------ the checker catches breaks

  @Test
  void aNewFieldWithoutDefaultIsCaughtAsIncompatible() {
    Schema current = KernelControl.getClassSchema();
    Schema broken = Fixtures.withField(current, new Schema.Field("priority", Schema.create(Schema.Type.INT), "no default"));

    assertThat(check(broken, current).getType()).isEqualTo(SchemaCompatibilityType.INCOMPATIBLE);
    assertThat(check(broken, current).getDescription()).contains("priority");
  }

  @Test
  void aNewNestedFieldWithoutDefaultIsCaughtAsIncompatible() {
    Schema current = MemoryEvent.getClassSchema();
    Schema broken = Fixtures.mapField(current, "payload", union -> Fixtures.mapUnionBranches(union, Map.of(
        "StoreMemory", s -> Fixtures.withField(s, new Schema.Field("dimension", Schema.create(Schema.Type.INT), "d")))));

    assertThat(check(broken, current).getType()).isEqualTo(SchemaCompatibilityType.INCOMPATIBLE);
  }

  @Test
  void otherBreakingChangesAreCaughtToo() {
    Schema current = MemoryEvent.getClassSchema();
    // narrowing a type: long -> int
    Schema narrowed = Fixtures.mapField(current, "timestamp_ms", s -> Schema.create(Schema.Type.INT));
    assertThat(check(narrowed, current).getType()).isEqualTo(SchemaCompatibilityType.INCOMPATIBLE);
    // dropping a union branch the writer may still use
    Schema noForget = Fixtures.mapField(current, "payload", union -> Schema.createUnion(
        union.getTypes().stream().filter(t -> !t.getName().equals("Forget")).collect(Collectors.toList())));
    assertThat(check(noForget, current).getType()).isEqualTo(SchemaCompatibilityType.INCOMPATIBLE);
    // making an optional field required
    Schema requiredFraction = Fixtures.rebuild(KernelControl.getClassSchema(), fields -> fields.replaceAll(f ->
        f.name().equals("fraction") ? new Schema.Field("fraction", Schema.create(Schema.Type.DOUBLE), f.doc()) : f));
    assertThat(check(requiredFraction, KernelControl.getClassSchema()).getType())
        .isEqualTo(SchemaCompatibilityType.INCOMPATIBLE);
  }

  @Test
  void compatibleChangesPass() {
    Schema current = KernelControl.getClassSchema();
    Schema withDefault = Fixtures.withField(current,
        new Schema.Field("priority", Schema.create(Schema.Type.INT), "with default", 0));
    assertThat(check(withDefault, current).getType()).isEqualTo(SchemaCompatibilityType.COMPATIBLE);
    // widening int -> long is a legal promotion
    Schema widened = Fixtures.mapField(RecallQuery.getClassSchema(), "k", s -> Schema.create(Schema.Type.LONG));
    assertThat(check(widened, RecallQuery.getClassSchema()).getType()).isEqualTo(SchemaCompatibilityType.COMPATIBLE);
    // adding a union branch
    Schema moreBranches = Fixtures.mapField(MemoryEvent.getClassSchema(), "payload", union -> {
      List<Schema> branches = new ArrayList<>(union.getTypes());
      branches.add(Schema.createRecord("Consolidate", "d", "io.engram.schemas", false, List.of()));
      return Schema.createUnion(branches);
    });
    assertThat(check(moreBranches, MemoryEvent.getClassSchema()).getType()).isEqualTo(SchemaCompatibilityType.COMPATIBLE);
  }

  @Test
  void theCodecRefusesToRegisterAnIncompatibleWriter() {
    // A writer whose timestamp is a string: the current reader cannot read it. Registering it must fail loudly.
    Schema incompatibleWriter = Fixtures.mapField(MemoryEvent.getClassSchema(), "timestamp_ms",
        s -> Schema.create(Schema.Type.STRING));
    assertThatThrownBy(() -> AvroCodec.TypedDecoder.withExtraWriters(MemoryEvent.class, MemoryEvent.getClassSchema(),
        List.of(incompatibleWriter)))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("cannot read");
    assertThatThrownBy(() -> AvroCodec.TypedDecoder.withExtraWriters(MemoryEvent.class, MemoryEvent.getClassSchema(),
        List.of(KernelControl.getClassSchema())))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("KernelControl");
  }
}
