package io.engram.kernels;

/**
 * A bounded min-heap keeping the k best (score desc, row asc) entries. The root is the worst kept entry, so a new
 * entry only enters when it beats the root. Same order as the Zig heap in native/src/kernels.zig.
 */
final class TopK {
    private final float[] scores;
    private final int[] rows;
    private int size;

    TopK(int capacity) {
        scores = new float[capacity];
        rows = new int[capacity];
    }

    /** True when (sa, ra) ranks worse than (sb, rb). */
    private static boolean worse(float sa, int ra, float sb, int rb) {
        return sa < sb || (sa == sb && ra > rb);
    }

    void offer(float score, int row) {
        if (size < scores.length) {
            int i = size++;
            scores[i] = score;
            rows[i] = row;
            siftUp(i);
        } else if (worse(scores[0], rows[0], score, row)) {
            scores[0] = score;
            rows[0] = row;
            siftDown(0);
        }
    }

    private void siftUp(int i) {
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!worse(scores[i], rows[i], scores[parent], rows[parent])) {
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
            if (l < size && worse(scores[l], rows[l], scores[worst], rows[worst])) {
                worst = l;
            }
            if (r < size && worse(scores[r], rows[r], scores[worst], rows[worst])) {
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
        float s = scores[a];
        scores[a] = scores[b];
        scores[b] = s;
        int r = rows[a];
        rows[a] = rows[b];
        rows[b] = r;
    }

    /** Writes the kept entries best-first and empties the heap. */
    int drainSorted(int[] outRows, float[] outScores) {
        int n = size;
        for (int i = n - 1; i >= 0; i--) {
            outRows[i] = rows[0];
            outScores[i] = scores[0];
            size--;
            scores[0] = scores[size];
            rows[0] = rows[size];
            siftDown(0);
        }
        return n;
    }
}
