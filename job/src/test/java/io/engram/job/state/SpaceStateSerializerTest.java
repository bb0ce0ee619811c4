package io.engram.job.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.Arrays;
import java.util.Random;
import org.apache.flink.api.common.typeutils.SerializerTestBase;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshotSerializationUtil;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.testutils.DeeplyEqualsChecker;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;

/**
 * {@link SpaceStateSerializer}: Flink's own serializer contract ({@link SerializerTestBase}: copy, reuse, sequences,
 * serialized copy, snapshot / restore / compatibility, duplicate under concurrency, Java serializability), plus
 * round trips of a few hundred random states and refusal of corrupt input.
 */
class SpaceStateSerializerTest extends SerializerTestBase<SpaceState> {

    SpaceStateSerializerTest() {
        // SpaceState has no equals (its arrays carry spare capacity): compare content, also in the concurrent
        // duplicate() test, which uses the checker rather than deepEquals.
        super(new DeeplyEqualsChecker().withCustomCheck(
                (a, b) -> a instanceof SpaceState && b instanceof SpaceState,
                (a, b, checker) -> ((SpaceState) a).sameContentAs((SpaceState) b)));
    }

    @Override
    protected TypeSerializer<SpaceState> createSerializer() {
        return new SpaceStateSerializer();
    }

    @Override
    protected int getLength() {
        return -1;
    }

    @Override
    protected Class<SpaceState> getTypeClass() {
        return SpaceState.class;
    }

    @Override
    protected SpaceState[] getTestData() {
        Random rnd = new Random(7L);
        SpaceState[] data = new SpaceState[12];
        data[0] = new SpaceState();
        SpaceState emptiedWithDim = randomState(rnd, 3, 5);
        boolean[] all = new boolean[emptiedWithDim.size()];
        Arrays.fill(all, true);
        emptiedWithDim.removeRows(all);
        data[1] = emptiedWithDim;
        for (int i = 2; i < data.length; i++) {
            data[i] = randomState(rnd, 1 + rnd.nextInt(8), rnd.nextInt(40));
        }
        return data;
    }

    @Override
    protected void deepEquals(String message, SpaceState should, SpaceState is) {
        assertThat(is.sameContentAs(should)).as(message).isTrue();
    }

    // ----- random states ---------------------------------------------------------------------------------------

    /** A state built through the public mutators, so its arrays carry spare capacity and removed rows. */
    static SpaceState randomState(Random rnd, int dim, int memories) {
        SpaceState s = new SpaceState();
        for (int i = 0; i < memories; i++) {
            float[] emb = new float[dim];
            for (int j = 0; j < dim; j++) {
                emb[j] = switch (rnd.nextInt(20)) {
                    case 0 -> -0f;
                    case 1 -> Float.MIN_VALUE;
                    case 2 -> Float.MAX_VALUE;
                    default -> (float) rnd.nextGaussian();
                };
            }
            String id = switch (rnd.nextInt(6)) {
                case 0 -> "mém-" + i + "-\u00e9\u4e2d\ud83d\ude00"; // non-ASCII incl. a surrogate pair
                case 1 -> "x".repeat(200 + i);
                default -> "m" + i;
            };
            long last = switch (rnd.nextInt(5)) {
                case 0 -> Long.MAX_VALUE;
                case 1 -> 0L;
                default -> rnd.nextLong() & Long.MAX_VALUE;
            };
            s.upsert(id, emb, rnd.nextFloat() * 3, 0.001f + rnd.nextFloat() * 1e6f, last);
        }
        int n = s.size();
        for (int e = 0; n > 1 && e < rnd.nextInt(3 * n + 1); e++) {
            int f = rnd.nextInt(n);
            int t = rnd.nextInt(n);
            if (f != t) {
                s.associate(f, t, rnd.nextInt(101) / 100f);
            }
        }
        if (n > 2 && rnd.nextBoolean()) {
            s.forget(s.id(rnd.nextInt(n))); // rows and edges renumbered, spare capacity left behind
        }
        return s;
    }

    private static byte[] serialize(SpaceState s) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        SpaceStateSerializer.INSTANCE.serialize(s, out);
        return out.getCopyOfBuffer();
    }

    private static SpaceState deserialize(byte[] bytes) throws IOException {
        DataInputDeserializer in = new DataInputDeserializer(bytes);
        SpaceState s = SpaceStateSerializer.INSTANCE.deserialize(in);
        assertThat(in.available()).as("every byte consumed").isZero();
        return s;
    }

    @Test
    void randomStatesRoundTrip() throws IOException {
        Random rnd = new Random(42L);
        for (int i = 0; i < 300; i++) {
            SpaceState s = randomState(rnd, 1 + rnd.nextInt(16), rnd.nextInt(60));
            byte[] bytes = serialize(s);
            SpaceState back = deserialize(bytes);
            assertThat(back.sameContentAs(s)).as("state %d", i).isTrue();
            assertThat(serialize(back)).as("re-serialized state %d", i).isEqualTo(bytes);
            // the restored state is fully usable: derived indexes are rebuilt lazily
            for (int r = 0; r < back.size(); r++) {
                assertThat(back.rowOf(back.id(r))).isEqualTo(r);
            }
            SpaceStateTest.assertGraphMatchesEdges(back);
            if (back.size() >= 2) {
                int edges = back.edgeCount();
                back.associate(0, 1, 0.5f);
                back.associate(0, 1, 0.25f);
                assertThat(back.edgeCount()).isIn(edges, edges + 1);
                back.upsert("fresh-after-restore", new float[back.dim()], 1f, 1f, 1L);
                assertThat(back.rowOf("fresh-after-restore")).isEqualTo(back.size() - 1);
            }
        }
    }

    @Test
    void writesFormatOneHeader() throws IOException {
        SpaceState s = new SpaceState();
        s.upsert("a", new float[] {1f, 2f}, 1f, 1f, 7L);
        DataInputDeserializer in = new DataInputDeserializer(serialize(s));
        assertThat(in.readInt()).isEqualTo(SpaceStateSerializer.CURRENT_FORMAT).isEqualTo(1);
        assertThat(in.readInt()).as("dim").isEqualTo(2);
        assertThat(in.readInt()).as("size").isEqualTo(1);
        assertThat(in.readUTF()).isEqualTo("a");
    }

    // ----- copy ------------------------------------------------------------------------------------------------

    @Test
    void copyIsDeep() {
        Random rnd = new Random(3L);
        SpaceState original = randomState(rnd, 4, 10);
        while (original.edgeCount() == 0) {
            original = randomState(rnd, 4, 10);
        }
        SpaceState snapshot = SpaceStateSerializer.INSTANCE.copy(original);
        SpaceState copy = SpaceStateSerializer.INSTANCE.copy(original);
        assertThat(copy).isNotSameAs(original);
        assertThat(copy.embeddings()).isNotSameAs(original.embeddings());
        assertThat(copy.strength()).isNotSameAs(original.strength());
        assertThat(copy.stability()).isNotSameAs(original.stability());
        assertThat(copy.lastAccess()).isNotSameAs(original.lastAccess());

        String first = copy.id(0);
        copy.reinforce(first, Long.MAX_VALUE, 2f, 1e9f);
        copy.embeddings()[0] += 1f;
        copy.strength()[0] += 1f;
        copy.associate(copy.edgeFrom(0), copy.edgeTo(0), 0.123f);
        copy.upsert("new-in-copy", new float[4], 1f, 1f, 1L);
        copy.forget(copy.id(1));
        assertThat(original.sameContentAs(snapshot)).as("the original is untouched by changes to the copy")
                .isTrue();

        original.forget(original.id(0)); // and the other way round
        assertThat(snapshot.rowOf(first)).isZero();
    }

    // ----- corrupt input ---------------------------------------------------------------------------------------

    @Test
    void refusesAnUnknownFormatVersionNamingIt() throws IOException {
        for (int version : new int[] {2, 0, -1, 77}) {
            DataOutputSerializer out = new DataOutputSerializer(16);
            out.writeInt(version);
            out.writeInt(0);
            out.writeInt(0);
            out.writeInt(0);
            assertThatThrownBy(() -> deserialize(out.getCopyOfBuffer()))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("format " + version);
        }
    }

    /**
     * The chunked column writes produce exactly the format-1 bytes of per-element {@code writeFloat} /
     * {@code writeLong}, also for columns that span several 64 KiB chunks and end mid-chunk (40 x 1000 = 40,000
     * floats), and read back from those bytes.
     */
    @Test
    void chunkedColumnsAreTheFormatOneBytesOfPerElementWrites() throws IOException {
        Random rnd = new Random(7L);
        SpaceState s = new SpaceState();
        for (int r = 0; r < 40; r++) {
            float[] e = new float[1000];
            for (int i = 0; i < e.length; i++) {
                e[i] = (float) rnd.nextGaussian();
            }
            e[r] = r % 3 == 0 ? Float.MIN_VALUE : -0f; // a denormal and a negative zero keep their bits
            s.upsert("m" + r, e, 1f + r, 2f + r, 1_700_000_000_000L + r);
        }
        s.associate(0, 39, 0.75f);
        DataOutputSerializer out = new DataOutputSerializer(64);
        out.writeInt(1);
        out.writeInt(s.dim());
        out.writeInt(s.size());
        for (int r = 0; r < s.size(); r++) {
            out.writeUTF(s.id(r));
        }
        for (int i = 0; i < s.size() * s.dim(); i++) {
            out.writeFloat(s.embeddings()[i]);
        }
        for (int r = 0; r < s.size(); r++) {
            out.writeFloat(s.strength()[r]);
        }
        for (int r = 0; r < s.size(); r++) {
            out.writeFloat(s.stability()[r]);
        }
        for (int r = 0; r < s.size(); r++) {
            out.writeLong(s.lastAccess()[r]);
        }
        out.writeInt(1);
        out.writeInt(0);
        out.writeInt(39);
        out.writeFloat(0.75f);
        byte[] perElement = out.getCopyOfBuffer();
        assertThat(serialize(s)).isEqualTo(perElement);
        assertThat(deserialize(perElement).sameContentAs(s)).isTrue();
    }

    /** format 1, dim 1, two memories "a" and "b", then the given edges. */
    private static byte[] twoMemoriesWithEdges(int[][] edges) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        out.writeInt(1);
        out.writeInt(1);
        out.writeInt(2);
        out.writeUTF("a");
        out.writeUTF("b");
        out.writeFloat(1f);
        out.writeFloat(2f);
        out.writeFloat(1f);
        out.writeFloat(1f);
        out.writeFloat(5f);
        out.writeFloat(5f);
        out.writeLong(1L);
        out.writeLong(2L);
        out.writeInt(edges.length);
        for (int[] e : edges) {
            out.writeInt(e[0]);
            out.writeInt(e[1]);
            out.writeFloat(0.5f);
        }
        return out.getCopyOfBuffer();
    }

    @Test
    void handWrittenFormatOneIsRead() throws IOException {
        SpaceState s = deserialize(twoMemoriesWithEdges(new int[][] {{0, 1}, {1, 0}}));
        SpaceState expected = new SpaceState();
        expected.upsert("a", new float[] {1f}, 1f, 5f, 1L);
        expected.upsert("b", new float[] {2f}, 1f, 5f, 2L);
        expected.associate(0, 1, 0.5f);
        expected.associate(1, 0, 0.5f);
        assertThat(s.sameContentAs(expected)).isTrue();
    }

    @Test
    void refusesEdgesOutsideTheMemories() {
        for (int[] bad : new int[][] {{0, 2}, {2, 0}, {-1, 0}, {0, -5}, {Integer.MAX_VALUE, 1}}) {
            assertThatThrownBy(() -> deserialize(twoMemoriesWithEdges(new int[][] {{0, 1}, bad})))
                    .as("edge %s", Arrays.toString(bad))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("edge 1")
                    .hasMessageContaining("outside 2 memories");
        }
    }

    @Test
    void refusesNegativeCountsAndMissingDimension() throws IOException {
        int[][] headers = {{1, -1, 0}, {1, 2, -3}, {1, 0, 4}};
        for (int[] h : headers) {
            DataOutputSerializer out = new DataOutputSerializer(16);
            for (int x : h) {
                out.writeInt(x);
            }
            assertThatThrownBy(() -> deserialize(out.getCopyOfBuffer()))
                    .as("header %s", Arrays.toString(h))
                    .isInstanceOf(IOException.class).hasMessageContaining("corrupt SpaceState");
        }
        DataOutputSerializer huge = new DataOutputSerializer(16);
        huge.writeInt(1);
        huge.writeInt(100_000);
        huge.writeInt(100_000); // 10^10 floats: the product overflows an int
        for (int i = 0; i < 100_000; i++) {
            huge.writeUTF("i");
        }
        assertThatThrownBy(() -> deserialize(huge.getCopyOfBuffer()))
                .isInstanceOf(IOException.class).hasMessageContaining("corrupt SpaceState");
        byte[] ok = twoMemoriesWithEdges(new int[0][]);
        byte[] negativeEdges = ok.clone();
        // the edge count is the last int
        negativeEdges[negativeEdges.length - 1] = (byte) 0xff;
        negativeEdges[negativeEdges.length - 2] = (byte) 0xff;
        negativeEdges[negativeEdges.length - 3] = (byte) 0xff;
        negativeEdges[negativeEdges.length - 4] = (byte) 0xff;
        assertThatThrownBy(() -> deserialize(negativeEdges))
                .isInstanceOf(IOException.class).hasMessageContaining("edge count -1");
    }

    @Test
    void truncatedInputIsAnIOException() throws IOException {
        byte[] full = serialize(randomState(new Random(9L), 3, 6));
        for (int len = 0; len < full.length; len += 7) {
            byte[] cut = Arrays.copyOf(full, len);
            assertThatThrownBy(() -> deserialize(cut)).as("first %d of %d bytes", len, full.length)
                    .isInstanceOf(IOException.class);
        }
    }

    // ----- snapshot and compatibility --------------------------------------------------------------------------

    @Test
    void snapshotRestoresTheSerializerAndIsCompatibleAsIs() throws Exception {
        TypeSerializerSnapshot<SpaceState> snapshot = SpaceStateSerializer.INSTANCE.snapshotConfiguration();
        DataOutputSerializer out = new DataOutputSerializer(64);
        TypeSerializerSnapshotSerializationUtil.writeSerializerSnapshot(out, snapshot);
        TypeSerializerSnapshot<SpaceState> restored = TypeSerializerSnapshotSerializationUtil.readSerializerSnapshot(
                new DataInputDeserializer(out.getCopyOfBuffer()), getClass().getClassLoader());

        // Savepoints of the chunked layout record a snapshot class the one-value layout's builds do not have, so
        // they refuse such a savepoint instead of restoring it with every space empty.
        assertThat(restored).isInstanceOf(ChunkedLayoutRequired.class);
        TypeSerializer<SpaceState> restoreSerializer = restored.restoreSerializer();
        assertThat(restoreSerializer).isEqualTo(SpaceStateSerializer.INSTANCE);
        TypeSerializerSchemaCompatibility<SpaceState> compat =
                SpaceStateSerializer.INSTANCE.snapshotConfiguration().resolveSchemaCompatibility(restored);
        assertThat(compat.isCompatibleAsIs()).isTrue();
        assertThat(SpaceStateSerializer.INSTANCE.snapshotConfiguration()
                .resolveSchemaCompatibility(new SpaceStateSerializer.Snapshot()).isCompatibleAsIs())
                .as("what state-format-1 savepoints recorded still restores").isTrue();

        // data written before the "restore" reads back with the restored serializer
        SpaceState s = randomState(new Random(11L), 5, 20);
        SpaceState back = restoreSerializer.deserialize(new DataInputDeserializer(serialize(s)));
        assertThat(back.sameContentAs(s)).isTrue();
    }

    @Test
    void serializerSurvivesJavaSerialization() throws Exception {
        SpaceStateSerializer cloned = InstantiationUtil.clone(SpaceStateSerializer.INSTANCE);
        assertThat(cloned).isEqualTo(SpaceStateSerializer.INSTANCE);
        assertThat(cloned.hashCode()).isEqualTo(SpaceStateSerializer.INSTANCE.hashCode());
        SpaceState s = randomState(new Random(5L), 2, 3);
        DataOutputSerializer out = new DataOutputSerializer(64);
        cloned.serialize(s, out);
        assertThat(deserialize(out.getCopyOfBuffer()).sameContentAs(s)).isTrue();
    }
}
