package io.engram.job.recall;

import java.util.Arrays;

/**
 * The k best rows by (score desc, id asc): a bounded min-heap whose root is the worst kept row. Ties break on the
 * memory id, not the row, so rankings do not depend on where a memory happens to sit in the columns.
 */
final class TopRows {
    private final int[] rows;
    private final float[] scores;
    private final String[] ids;
    private int size;

    TopRows(int capacity) {
        rows = new int[capacity];
        scores = new float[capacity];
        ids = new String[capacity];
    }

    /** True when (sa, ia) ranks below (sb, ib). */
    private static boolean worse(float sa, String ia, float sb, String ib) {
        return sa < sb || (sa == sb && ia.compareTo(ib) > 0);
    }

    /**
     * A score below this cannot get in (the worst kept one once full, else -Infinity); an equal one may, on its id.
     */
    float floor() {
        return size == rows.length ? (rows.length == 0 ? Float.POSITIVE_INFINITY : scores[0])
                : Float.NEGATIVE_INFINITY;
    }

    void offer(int row, float score, String id) {
        if (rows.length == 0) {
            return;
        }
        if (size < rows.length) {
            set(size, row, score, id);
            siftUp(size++);
        } else if (worse(scores[0], ids[0], score, id)) {
            set(0, row, score, id);
            siftDown(0);
        }
    }

    /** The kept rows, best first. */
    int[] sortedRows() {
        Integer[] order = new Integer[size];
        for (int i = 0; i < size; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> worse(scores[a], ids[a], scores[b], ids[b]) ? 1
                : worse(scores[b], ids[b], scores[a], ids[a]) ? -1 : 0);
        int[] out = new int[size];
        for (int i = 0; i < size; i++) {
            out[i] = rows[order[i]];
        }
        return out;
    }

    private void set(int i, int row, float score, String id) {
        rows[i] = row;
        scores[i] = score;
        ids[i] = id;
    }

    private void siftUp(int i) {
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!worse(scores[i], ids[i], scores[parent], ids[parent])) {
                return;
            }
            swap(i, parent);
            i = parent;
        }
    }

    private void siftDown(int i) {
        while (true) {
            int l = 2 * i + 1;
            int r = l + 1;
            int worst = i;
            if (l < size && worse(scores[l], ids[l], scores[worst], ids[worst])) {
                worst = l;
            }
            if (r < size && worse(scores[r], ids[r], scores[worst], ids[worst])) {
                worst = r;
            }
            if (worst == i) {
                return;
            }
            swap(i, worst);
            i = worst;
        }
    }

    private void swap(int a, int b) {
        int r = rows[a];
        rows[a] = rows[b];
        rows[b] = r;
        float s = scores[a];
        scores[a] = scores[b];
        scores[b] = s;
        String id = ids[a];
        ids[a] = ids[b];
        ids[b] = id;
    }
}
