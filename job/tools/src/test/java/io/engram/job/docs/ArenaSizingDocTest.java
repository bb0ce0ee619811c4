package io.engram.job.docs;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.kernels.ArenaConfig;
import io.engram.kernels.CsrGraph;
import io.engram.kernels.KernelMode;
import io.engram.kernels.KernelsConfig;
import io.engram.kernels.Kernels;
import io.engram.kernels.MemoryKernels;
import io.engram.kernels.OverflowStrategy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;

/**
 * The arena sizing tables of docs/operations/zig_performance_kernels.md are the arena high-water marks the Zig
 * kernels really report: every row is measured here with a real native call on a fresh arena
 * ({@code ArenaStats.highWaterBytes}, the bytes the native code says it used) and must equal the documented number,
 * and the "fits 2 MiB?" column must agree with the default arena size.
 */
@DisabledIfSystemProperty(named = "engram.build.javaOnly", matches = "true", disabledReason = "no native library")
class ArenaSizingDocTest {
    private static final Path GUIDE = Path.of("docs/operations/zig_performance_kernels.md");

    /** The data rows (cells, trimmed, without backticks) of the Markdown table whose header starts with {@code header}. */
    static List<List<String>> table(List<String> lines, String header) {
        List<List<String>> rows = new ArrayList<>();
        int i = 0;
        while (i < lines.size() && !lines.get(i).startsWith(header)) {
            i++;
        }
        assertThat(i).as("table '%s' in %s", header, GUIDE).isLessThan(lines.size());
        for (i += 2; i < lines.size() && lines.get(i).startsWith("|"); i++) {
            List<String> cells = new ArrayList<>();
            String[] parts = lines.get(i).split("\\|");
            for (int c = 1; c < parts.length; c++) {
                cells.add(parts[c].replace("`", "").strip());
            }
            rows.add(cells);
        }
        return rows;
    }

    static long number(String cell) {
        return Long.parseLong(cell.replace(",", "").split(" ")[0]);
    }

    /** The high-water mark of one call on a fresh 32 MiB arena. */
    static long highWater(Consumer<MemoryKernels> call) {
        KernelsConfig config = KernelsConfig.of(KernelMode.ZIG)
                .withArena(new ArenaConfig(32L << 20, OverflowStrategy.FAIL));
        try (MemoryKernels k = Kernels.open(config)) {
            call.accept(k);
            return k.arenaStats().highWaterBytes();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static long cosine(int dim) {
        int n = 4;
        return highWater(k -> k.cosineSimilarity(new float[dim], random(n * dim), dim, 0, n, new float[n]));
    }

    static long topK(int dim, int kk) {
        return highWater(k -> k.cosineTopK(random(dim), random(kk * dim), dim, 0, kk, kk, new int[kk],
                new float[kk]));
    }

    static long spread(int n) {
        int[] src = new int[n];
        int[] dst = new int[n];
        float[] w = new float[n];
        for (int i = 0; i < n; i++) { // a ring: every memory associated with the next
            src[i] = i;
            dst[i] = (i + 1) % n;
            w[i] = 0.5f;
        }
        CsrGraph graph = CsrGraph.fromEdges(n, src, dst, w, n);
        return highWater(k -> k.spreadActivation(graph, new int[] {0}, new float[] {1f}, 1, 3, 0.5f, 0.01f,
                new float[n], new int[n]));
    }

    private static float[] random(int size) {
        java.util.Random r = new java.util.Random(size);
        float[] v = new float[size];
        for (int i = 0; i < size; i++) {
            v[i] = r.nextFloat() - 0.5f;
        }
        return v;
    }

    @Test
    void byDimensionTableIsTheMeasuredHighWater() throws IOException {
        List<String> lines = Files.readAllLines(DocsConsistencyTest.repoRoot().resolve(GUIDE));
        List<List<String>> rows = table(lines, "| dim | cosineSimilarity |");
        assertThat(rows).as("rows of the by-dimension table").hasSizeGreaterThanOrEqualTo(3);
        for (List<String> row : rows) {
            int dim = (int) number(row.get(0));
            assertThat(number(row.get(1))).as("cosineSimilarity, dim %d", dim).isEqualTo(cosine(dim));
            assertThat(number(row.get(2))).as("cosineTopK k=10, dim %d", dim).isEqualTo(topK(dim, 10));
            assertThat(number(row.get(3))).as("cosineTopK k=1000, dim %d", dim).isEqualTo(topK(dim, 1000));
        }
    }

    @Test
    void bySpaceSizeTableIsTheMeasuredHighWater() throws IOException {
        List<String> lines = Files.readAllLines(DocsConsistencyTest.repoRoot().resolve(GUIDE));
        List<List<String>> rows = table(lines, "| memories n | spreadActivation bytes |");
        assertThat(rows).as("rows of the by-space-size table").hasSizeGreaterThanOrEqualTo(3);
        for (List<String> row : rows) {
            int n = (int) number(row.get(0));
            long measured = spread(n);
            assertThat(number(row.get(1))).as("spreadActivation, n = %d", n).isEqualTo(measured);
            boolean fits = measured <= ArenaConfig.DEFAULT_CAPACITY;
            assertThat(row.get(2)).as("fits 2 MiB?, n = %d (%d bytes)", n, measured)
                    .startsWith(fits ? "yes" : "no");
        }
    }
}
