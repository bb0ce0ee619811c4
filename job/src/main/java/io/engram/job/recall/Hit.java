package io.engram.job.recall;

/** One recalled memory and how its score came about. */
public record Hit(String memoryId, float score, float similarity, float activation, float retention, int hops) {
}
