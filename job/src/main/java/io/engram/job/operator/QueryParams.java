package io.engram.job.operator;

/** A query's effective recall parameters: its overrides, or the configured defaults. */
record QueryParams(int k, int maxHops, float hopDecay, float threshold, int seedK) {
}
