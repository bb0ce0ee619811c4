package io.engram.job.space;

/** What an applied event did to the space's totals: memories and edges added (negative: removed). */
public record Change(int memories, long edges) {
    public static final Change NONE = new Change(0, 0);

    public Change plus(Change o) {
        return new Change(memories + o.memories, edges + o.edges);
    }
}
