package io.engram.job.space;

import java.io.Serializable;

/**
 * The configured rules a space applies events by (from {@code EngramSettings}).
 *
 * @param chunkSlots        slots per chunk for spaces created from now on (existing spaces keep theirs)
 * @param maxMemories       memories a space may hold ({@code engram.limits.max-memories-per-space})
 * @param defaultStability  stability of a store that gives none, seconds
 * @param maxStability      cap on stability, at store and at reinforce, seconds
 * @param reinforceFactor   what a reinforce multiplies stability by
 */
public record SpaceRules(int chunkSlots, int maxMemories, float defaultStability, float maxStability,
                         float reinforceFactor) implements Serializable {
    public SpaceRules {
        if (chunkSlots < 1 || chunkSlots > 1 << 16) {
            throw new IllegalArgumentException("chunk slots must be in [1, 65536], got " + chunkSlots);
        }
    }
}
