package io.engram.job.recall;

/** A query's effective recall parameters: its overrides, or the configured defaults. */
public record RecallParams(int k, int maxHops, float hopDecay, float threshold, int seedK) {
}
