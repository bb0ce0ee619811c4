package io.engram.kernels;

/**
 * A native bump allocator owned by one operator subtask: every Zig kernel call takes its scratch from the start of
 * the block and the arena is reset when the call returns. It is never shared between threads: the first thread
 * that uses it becomes its owner, and any other thread is refused.
 *
 * <p>Counters are written only by the owner thread and are volatile so a metrics thread can read them cheaply.
 */
public final class Arena implements AutoCloseable {
    private final ArenaConfig config;
    private long address;
    private Thread owner;
    private volatile boolean closed;
    private volatile long inUse;
    private volatile long highWater;
    private volatile long resets;
    private volatile long overflows;
    private volatile long fallbacks;

    private Arena(ArenaConfig config, long address) {
        assert address != 0 && (address & (Scratch.ALIGN - 1)) == 0 : "arena block must be 64-byte aligned";
        this.config = config;
        this.address = address;
    }

    /** Allocates the native block. The Zig library must be loaded. */
    static Arena allocate(ArenaConfig config) {
        long address = ZigNative.arenaCreate(config.capacityBytes());
        if (address == 0) {
            throw new OutOfMemoryError("could not allocate a native arena of " + config.capacityBytes() + " bytes");
        }
        return new Arena(config, address);
    }

    public ArenaConfig config() {
        return config;
    }

    public long capacityBytes() {
        return config.capacityBytes();
    }

    /**
     * Starts a kernel call needing {@code bytes} of scratch: checks the arena is open and owned by this thread.
     * Returns the block's address; the caller has already checked that {@code bytes} fits.
     */
    long begin(long bytes) {
        checkUsable();
        assert bytes >= 0 && bytes <= config.capacityBytes();
        inUse = bytes;
        return address;
    }

    /** Ends the call that {@link #begin} started: the native side used {@code usedBytes}; the arena resets. */
    void end(long usedBytes) {
        assert usedBytes >= 0 && usedBytes <= config.capacityBytes();
        if (usedBytes > highWater) {
            highWater = usedBytes;
        }
        inUse = 0;
        resets++;
    }

    /** The call could not run natively; the arena resets without having been used. */
    void abort() {
        inUse = 0;
        resets++;
    }

    void recordOverflow() {
        checkUsable();
        overflows++;
    }

    void recordFallback() {
        fallbacks++;
    }

    private void checkUsable() {
        if (closed) {
            throw new IllegalStateException("arena used after close");
        }
        Thread current = Thread.currentThread();
        if (owner == null) {
            owner = current;
        } else if (owner != current) {
            throw new IllegalStateException("arena owned by thread '" + owner.getName()
                    + "' used from thread '" + current.getName() + "': one arena per task slot, never shared");
        }
    }

    public boolean isClosed() {
        return closed;
    }

    public ArenaStats stats() {
        return new ArenaStats(config.capacityBytes(), inUse, highWater, resets, overflows, fallbacks);
    }

    /** Frees the native block. Safe to call twice, from any thread. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        ZigNative.arenaDestroy(address, config.capacityBytes());
        address = 0;
    }
}
