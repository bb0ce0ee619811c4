package io.engram.kernels;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A native bump allocator owned by one operator subtask: every Zig kernel call takes its scratch from the start of
 * the block and the arena is reset when the call returns. It is never shared between threads: the first thread
 * that uses it becomes its owner, and any other thread is refused.
 *
 * <p>Counters are written only by the owner thread and are volatile so a metrics thread can read them cheaply. The
 * owner writes them with release stores ({@link VarHandle#setRelease}): a metrics thread's volatile read still sees
 * every write in order, but the kernel call path pays no StoreLoad fence (a plain store on x86) for them. A call
 * updates them twice, so full volatile stores would cost several fences per JNI call.
 */
final class Arena implements AutoCloseable {
    private static final VarHandle IN_USE;
    private static final VarHandle HIGH_WATER;
    private static final VarHandle RESETS;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            IN_USE = lookup.findVarHandle(Arena.class, "inUse", long.class);
            HIGH_WATER = lookup.findVarHandle(Arena.class, "highWater", long.class);
            RESETS = lookup.findVarHandle(Arena.class, "resets", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

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
        assert address != 0 && (address & 63) == 0 : "arena block must be 64-byte aligned";
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
        IN_USE.setRelease(this, bytes);
        return address;
    }

    /** Ends the call that {@link #begin} started: the native side used {@code usedBytes}; the arena resets. */
    void end(long usedBytes) {
        assert usedBytes >= 0 && usedBytes <= config.capacityBytes();
        if (usedBytes > (long) HIGH_WATER.getOpaque(this)) {
            HIGH_WATER.setRelease(this, usedBytes);
        }
        IN_USE.setRelease(this, 0L);
        RESETS.setRelease(this, (long) RESETS.getOpaque(this) + 1);
    }

    /** The call could not run natively; the arena resets without having been used. */
    void abort() {
        IN_USE.setRelease(this, 0L);
        RESETS.setRelease(this, (long) RESETS.getOpaque(this) + 1);
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
