package io.engram.job.recall;

/** One recalled memory, the slot it lives in, and how its score came about. */
public record Hit(String memoryId, int slot, float score, float similarity, float activation, float retention,
                  int hops) {
}
