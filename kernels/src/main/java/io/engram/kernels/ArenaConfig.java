package io.engram.kernels;

import java.util.Map;

/**
 * Arena capacity and overflow strategy. Explicit configuration wins; otherwise the environment variables
 * {@code ENGRAM_ARENA_SIZE} (bytes) and {@code ENGRAM_ARENA_OVERFLOW} give the defaults; otherwise 2 MiB and
 * {@code fallback}. An invalid value anywhere, even an overridden one, is a startup error, never ignored.
 */
public record ArenaConfig(long capacityBytes, OverflowStrategy overflow) {
    public static final String ENV_SIZE = "ENGRAM_ARENA_SIZE";
    public static final String ENV_OVERFLOW = "ENGRAM_ARENA_OVERFLOW";
    public static final long DEFAULT_CAPACITY = 2L << 20;
    public static final OverflowStrategy DEFAULT_OVERFLOW = OverflowStrategy.FALLBACK;
    /** One page: smaller arenas only ever overflow. */
    public static final long MIN_CAPACITY = 4096;
    /** 1 GiB: per slot, more is a configuration mistake. */
    public static final long MAX_CAPACITY = 1L << 30;

    public ArenaConfig {
        if (capacityBytes < MIN_CAPACITY || capacityBytes > MAX_CAPACITY) {
            throw new IllegalArgumentException("arena size " + capacityBytes + " bytes is outside ["
                    + MIN_CAPACITY + ", " + MAX_CAPACITY + "]");
        }
        if (overflow == null) {
            throw new IllegalArgumentException("arena overflow strategy must not be null");
        }
    }

    public static ArenaConfig defaults() {
        return resolve(null, null, System.getenv());
    }

    /**
     * @param explicitCapacity configured size in bytes, or null to use the environment/default
     * @param explicitOverflow configured strategy, or null to use the environment/default
     * @param env              the environment to read defaults from
     */
    public static ArenaConfig resolve(Long explicitCapacity, OverflowStrategy explicitOverflow,
                                      Map<String, String> env) {
        // The environment is always parsed, so a bad value fails startup even when explicit configuration wins.
        long envCapacity = envSize(env);
        OverflowStrategy envOverflow = envOverflow(env);
        long capacity = explicitCapacity != null ? explicitCapacity : envCapacity;
        OverflowStrategy overflow = explicitOverflow != null ? explicitOverflow : envOverflow;
        return new ArenaConfig(capacity, overflow);
    }

    private static long envSize(Map<String, String> env) {
        String raw = env.get(ENV_SIZE);
        if (raw == null || raw.isBlank()) {
            return DEFAULT_CAPACITY;
        }
        try {
            long v = Long.parseLong(raw.trim());
            new ArenaConfig(v, DEFAULT_OVERFLOW);
            return v;
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(ENV_SIZE + "='" + raw + "' is invalid: expected a number of bytes in ["
                    + MIN_CAPACITY + ", " + MAX_CAPACITY + "]", e);
        }
    }

    private static OverflowStrategy envOverflow(Map<String, String> env) {
        String raw = env.get(ENV_OVERFLOW);
        if (raw == null || raw.isBlank()) {
            return DEFAULT_OVERFLOW;
        }
        try {
            return OverflowStrategy.parse(raw);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(ENV_OVERFLOW + "='" + raw + "' is invalid: " + e.getMessage(), e);
        }
    }
}
