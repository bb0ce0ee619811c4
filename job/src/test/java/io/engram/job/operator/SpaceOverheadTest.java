package io.engram.job.operator;

import static io.engram.job.operator.MemorySpaceFunctionTest.T0;
import static io.engram.job.operator.MemorySpaceFunctionTest.associate;
import static io.engram.job.operator.MemorySpaceFunctionTest.reinforce;
import static io.engram.job.operator.MemorySpaceFunctionTest.forget;
import static io.engram.job.operator.MemorySpaceFunctionTest.settings;
import static io.engram.job.operator.MemorySpaceFunctionTest.spaceState;
import static io.engram.job.operator.MemorySpaceFunctionTest.store;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What one space costs on the heap (hashmap state backend), measured with many spaces in the operator harness:
 * a space with one memory, and an empty space (its only memory forgotten; its state stays until the dedup window
 * ends). A flood of distinct small spaces must not cost tens of KB each: 50,000 spaces of one memory took the job
 * from 0.4 to 3.4 GB, because the first store allocated room for 8 memories. The numbers go to
 * docs/operations/reliability.md (sizing rule); the assertions bound the overhead beyond the data itself.
 */
class SpaceOverheadTest {
    private static final int SPACES = Integer.getInteger("overhead.spaces", 10_000);
    private final MemorySpaceFunctionTest t = new MemorySpaceFunctionTest();

    @AfterEach
    void close() throws Exception {
        t.closeHarnesses();
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(50);
            used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
        }
        return used;
    }

    /** Bytes per space: heap after the spaces minus before, over their number. */
    private long perSpace(int dim, boolean forgetIt) throws Exception {
        var h = t.harness(new MemorySpaceFunction(settings(c -> { })));
        float[] v = new float[dim];
        v[0] = 1;
        t.send(h, "warm-up", "e0", T0, store("m", v)); // class loading, lazy structures
        long before = usedHeapAfterGc();
        for (int i = 0; i < SPACES; i++) {
            String space = String.format(Locale.ROOT, "space-%06d", i);
            t.send(h, space, "e1", T0, store("memory-1", v));
            if (forgetIt) {
                t.send(h, space, "e2", T0, forget("memory-1"));
            }
        }
        long after = usedHeapAfterGc();
        assertThat(spaceState(h, "space-000000").size()).isEqualTo(forgetIt ? 0 : 1);
        t.closeHarnesses();
        return (after - before) / SPACES;
    }

    @Test
    void aSmallSpaceCostsAFewKilobytesBeyondItsData() throws Exception {
        long empty = perSpace(8, true);
        long one8 = perSpace(8, false);
        long one768 = perSpace(768, false);
        String line = String.format(Locale.ROOT, "per-space heap, %d spaces: empty (memory forgotten, 2 dedup "
                        + "entries) %d B; one memory of dim 8: %d B; one memory of dim 768: %d B (embedding %d B)",
                SPACES, empty, one8, one768, 768 * 4);
        System.out.println(line);
        assertThat(empty).as(line).isLessThan(2_048);
        assertThat(one8).as(line).isLessThan(2_048);
        assertThat(one768 - 768 * 4).as("beyond the embedding: " + line).isLessThan(2_048);
    }

    /**
     * The other terms of the sizing rule, in one space: a memory (dim 8, a 8-character id, with its dedup entry),
     * a dedup entry alone (an applied event id is remembered for engram.memory.dedup-window), an edge.
     */
    @Test
    void perMemoryPerDedupEntryAndPerEdge() throws Exception {
        int n = 20_000;
        var h = t.harness(new MemorySpaceFunction(settings(c -> { })));
        String space = "big-space";
        t.send(h, space, "warm", T0, store("warm", 1, 0, 0, 0, 0, 0, 0, 0));
        long base = usedHeapAfterGc();
        for (int i = 0; i < n; i++) {
            t.send(h, space, String.format(Locale.ROOT, "s-%06d", i), T0,
                    store(String.format(Locale.ROOT, "m-%06d", i), 1, 0, 0, 0, 0, 0, 0, 0));
        }
        long stored = usedHeapAfterGc();
        for (int i = 0; i < n; i++) {
            t.send(h, space, String.format(Locale.ROOT, "r-%06d", i), T0, reinforce("warm"));
        }
        long reinforced = usedHeapAfterGc();
        for (int i = 0; i < n; i++) {
            t.send(h, space, String.format(Locale.ROOT, "a-%06d", i), T0,
                    associate("warm", String.format(Locale.ROOT, "m-%06d", i), 0.5f, false));
        }
        long associated = usedHeapAfterGc();
        assertThat(spaceState(h, space).edgeCount()).isEqualTo(n);
        long dedupEntry = (reinforced - stored) / n;
        long memory = (stored - base) / n;
        long edge = (associated - reinforced) / n - dedupEntry;
        String line = String.format(Locale.ROOT, "per item, %d each: memory of dim 8 with its dedup entry %d B; "
                + "dedup entry %d B; edge %d B (without its dedup entry)", n, memory, dedupEntry, edge);
        System.out.println(line);
        assertThat(memory).as(line).isLessThan(512);
        assertThat(dedupEntry).as(line).isLessThan(256);
        assertThat(edge).as(line).isLessThan(256);
    }
}
