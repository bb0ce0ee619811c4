package io.engram.job.state;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * One slot's association edges in one direction: neighbour slots in insertion order, with weights for out-edges.
 * Removal leaves a tombstone (-1) that is compacted away once half the list is dead, and a list longer than
 * {@link #INDEXED} keeps a position index, so adding, re-weighting and removing an edge of a hub with 100k edges is
 * O(1) amortized rather than a scan.
 */
public final class EdgeList {
    static final int INDEXED = 32;

    private int[] slots;
    private float[] weights; // null for an in-list (the weight lives with the out-edge)
    private int size; // entries including tombstones
    private int dead;
    private transient Map<Integer, Integer> positions;

    EdgeList(boolean weighted, int capacity) {
        slots = new int[Math.max(2, capacity)];
        weights = weighted ? new float[slots.length] : null;
    }

    /** Live edges. */
    public int count() {
        return size - dead;
    }

    /** Entries including tombstones: iterate {@code 0 .. extent()-1} and skip {@link #slot} &lt; 0. */
    public int extent() {
        return size;
    }

    public int slot(int i) {
        return slots[i];
    }

    public float weight(int i) {
        return weights[i];
    }

    /** Adds the edge, or sets its weight if it exists. True if it is new. */
    boolean put(int slot, float weight) {
        int at = find(slot);
        if (at >= 0) {
            if (weights != null) {
                weights[at] = weight;
            }
            return false;
        }
        if (size == slots.length) {
            if (dead > 0) {
                compact();
            }
            if (size == slots.length) {
                int cap = slots.length + (slots.length >> 1) + 1;
                slots = Arrays.copyOf(slots, cap);
                if (weights != null) {
                    weights = Arrays.copyOf(weights, cap);
                }
            }
        }
        slots[size] = slot;
        if (weights != null) {
            weights[size] = weight;
        }
        if (positions != null) {
            positions.put(slot, size);
        }
        size++;
        return true;
    }

    /** Removes the edge to/from {@code slot}. True if it existed. */
    boolean remove(int slot) {
        int at = find(slot);
        if (at < 0) {
            return false;
        }
        slots[at] = -1;
        dead++;
        if (positions != null) {
            positions.remove(slot);
        }
        if (dead > INDEXED && dead * 2 > size) {
            compact();
        }
        return true;
    }

    private int find(int slot) {
        if (size - dead > INDEXED && positions == null) {
            positions = new HashMap<>(2 * (size - dead));
            for (int i = 0; i < size; i++) {
                if (slots[i] >= 0) {
                    positions.put(slots[i], i);
                }
            }
        }
        if (positions != null) {
            Integer at = positions.get(slot);
            return at == null ? -1 : at;
        }
        for (int i = 0; i < size; i++) {
            if (slots[i] == slot) {
                return i;
            }
        }
        return -1;
    }

    private void compact() {
        int w = 0;
        for (int i = 0; i < size; i++) {
            if (slots[i] >= 0) {
                slots[w] = slots[i];
                if (weights != null) {
                    weights[w] = weights[i];
                }
                w++;
            }
        }
        size = w;
        dead = 0;
        positions = null;
    }

    EdgeList copy() {
        EdgeList c = new EdgeList(weights != null, count());
        for (int i = 0; i < size; i++) {
            if (slots[i] >= 0) {
                c.slots[c.size] = slots[i];
                if (weights != null) {
                    c.weights[c.size] = weights[i];
                }
                c.size++;
            }
        }
        return c;
    }

    /** The live edges, in order: neighbour slots, and weights (empty for an in-list). */
    int[] liveSlots() {
        int[] out = new int[count()];
        int w = 0;
        for (int i = 0; i < size; i++) {
            if (slots[i] >= 0) {
                out[w++] = slots[i];
            }
        }
        return out;
    }

    float[] liveWeights() {
        if (weights == null) {
            return new float[0];
        }
        float[] out = new float[count()];
        int w = 0;
        for (int i = 0; i < size; i++) {
            if (slots[i] >= 0) {
                out[w++] = weights[i];
            }
        }
        return out;
    }

    static EdgeList of(int[] liveSlots, float[] liveWeights, boolean weighted) {
        EdgeList l = new EdgeList(weighted, liveSlots.length);
        System.arraycopy(liveSlots, 0, l.slots, 0, liveSlots.length);
        if (weighted) {
            System.arraycopy(liveWeights, 0, l.weights, 0, liveSlots.length);
        }
        l.size = liveSlots.length;
        return l;
    }
}
