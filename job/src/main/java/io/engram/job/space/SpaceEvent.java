package io.engram.job.space;

import io.engram.job.model.Rejection;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.util.List;

/**
 * A validated memory event, as the domain sees it. The set is sealed and each kind applies itself, so dispatch is
 * written once ({@link #applyTo}) and a new kind does not compile until it says what it does.
 */
public sealed interface SpaceEvent {
    String eventId();

    long timestampMs();

    /** Applies the event to the space; a rejection leaves the space unchanged. */
    Change applyTo(MemorySpace space) throws Rejection;

    /** Stores a new memory, or replaces the memory with the same id (same slot, edges kept). */
    record Store(String eventId, long timestampMs, String memoryId, float[] embedding, float strength,
                 Float stabilitySeconds, String content) implements SpaceEvent {
        @Override
        public Change applyTo(MemorySpace space) throws Rejection {
            return space.store(this);
        }
    }

    /** Refreshes last access and multiplies stability (capped). */
    record Reinforce(String eventId, long timestampMs, String memoryId) implements SpaceEvent {
        @Override
        public Change applyTo(MemorySpace space) throws Rejection {
            return space.reinforce(this);
        }
    }

    /** Adds or re-weights the edge from → to (and to → from if bidirectional). */
    record Associate(String eventId, long timestampMs, String fromId, String toId, float weight,
                     boolean bidirectional) implements SpaceEvent {
        @Override
        public Change applyTo(MemorySpace space) throws Rejection {
            return space.associate(this);
        }
    }

    /** Removes the memory and every edge touching it. */
    record Forget(String eventId, long timestampMs, String memoryId) implements SpaceEvent {
        @Override
        public Change applyTo(MemorySpace space) throws Rejection {
            return space.forget(this);
        }
    }

    /** The domain event of a decoded, validated Avro event. */
    public static SpaceEvent of(MemoryEvent e) {
        String id = e.getEventId();
        long ts = e.getTimestampMs();
        Object p = e.getPayload();
        if (p instanceof StoreMemory m) {
            return new Store(id, ts, m.getMemoryId(), floats(m.getEmbedding()), m.getStrength(), m.getStabilityS(),
                    m.getContent());
        }
        if (p instanceof ReinforceMemory r) {
            return new Reinforce(id, ts, r.getMemoryId());
        }
        if (p instanceof io.engram.schemas.Associate a) {
            return new Associate(id, ts, a.getFromId(), a.getToId(), a.getWeight(), a.getBidirectional());
        }
        if (p instanceof io.engram.schemas.Forget f) {
            return new Forget(id, ts, f.getMemoryId());
        }
        throw new IllegalArgumentException("unknown payload " + (p == null ? "null" : p.getClass().getName()));
    }

    static float[] floats(List<Float> v) {
        float[] a = new float[v.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = v.get(i);
        }
        return a;
    }
}
