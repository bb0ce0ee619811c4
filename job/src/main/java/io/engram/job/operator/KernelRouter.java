package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.kernels.JavaKernels;
import io.engram.kernels.KernelMode;
import io.engram.kernels.Kernels;
import io.engram.kernels.MemoryKernels;
import io.engram.kernels.ShadowKernels;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.KernelControl;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReadOnlyBroadcastState;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Picks the kernels for each call of one subtask: the configured mode, unless a {@code KernelControl} record (the
 * runtime switch, kept in broadcast state) covers the space. A switch takes effect on the next kernel call, survives
 * restarts and savepoints with the broadcast state, and is logged with its reason.
 */
final class KernelRouter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KernelRouter.class);

    /** Broadcast state: the latest KernelControl record, Avro-encoded, under {@link #CURRENT}. */
    static final MapStateDescriptor<String, byte[]> CONTROL = new MapStateDescriptor<>("kernel-control",
            Types.STRING, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
    static final String CURRENT = "current";

    /** How many divergences are logged with their inputs; later ones are only counted. */
    static final int LOGGED_DIVERGENCES = 5;

    private final EngramSettings settings;
    private final int subtask;
    private final MemoryKernels configured;
    private final MemoryKernels zig;
    private final MemoryKernels java;
    private MemoryKernels meteredZig;
    private MemoryKernels meteredJava;
    private byte[] seenControl;
    private KernelControl control;
    private Set<String> controlSpaces = Set.of();
    private KernelMode lastDefaultMode;
    /** Set when the divergence guard switched this subtask to Java; never cleared while the task runs. */
    private String zigDisabledReason;
    private int divergencesLogged;

    private KernelRouter(EngramSettings settings, int subtask, MemoryKernels configured) {
        this.settings = settings;
        this.subtask = subtask;
        this.configured = configured;
        this.zig = configured.mode() == KernelMode.ZIG ? configured : null;
        this.java = configured.mode() == KernelMode.JAVA ? configured : new JavaKernels();
        this.meteredZig = zig;
        this.meteredJava = java;
        this.lastDefaultMode = configured.mode();
    }

    /** Opens the subtask's kernels; its arena's managed memory is already reserved ({@link MemorySpacesOperator}). */
    static KernelRouter open(EngramSettings settings, RuntimeContext ctx) {
        MemoryKernels k = Kernels.open(settings.kernelsConfig());
        LOG.info("engram subtask {} runs {} kernels (configured mode {})",
                ctx.getTaskInfo().getIndexOfThisSubtask(), k.mode().label(), settings.kernelMode.label());
        return new KernelRouter(settings, ctx.getTaskInfo().getIndexOfThisSubtask(), k);
    }

    /**
     * Wraps both kernel sets so every call is timed and counted, and puts the divergence guard in front of Zig:
     * metered(shadow(zig)), with the test-only divergence injector innermost when configured.
     */
    void instrument(EngramMetrics metrics) {
        meteredJava = new MeteredKernels(java, metrics);
        if (zig == null) {
            return;
        }
        MemoryKernels serving = zig;
        if (settings.shadowTestInject != 0f) {
            LOG.warn("engram TEST HOOK engram.kernels.shadow.test-inject-divergence={} is set: Zig cosine scores are"
                    + " deliberately wrong on subtask {}", settings.shadowTestInject, subtask);
            serving = new InjectedDivergence(serving, settings.shadowTestInject);
        }
        if (settings.shadowSampleRate > 0) {
            serving = new ShadowKernels(serving, new JavaKernels(), settings.shadowSampleRate, subtask,
                    new ShadowKernels.Listener() {
                        @Override
                        public void compared(String kernel) {
                            metrics.shadowCompared();
                        }

                        @Override
                        public void diverged(String kernel, String detail) {
                            metrics.shadowDiverged();
                            onDivergence(kernel, detail);
                        }
                    });
        }
        meteredZig = new MeteredKernels(serving, metrics);
    }

    private void onDivergence(String kernel, String detail) {
        if (divergencesLogged < LOGGED_DIVERGENCES) {
            divergencesLogged++;
            LOG.warn("engram divergence guard: Zig {} disagrees with Java on subtask {}: {}", kernel, subtask, detail);
        }
        if (settings.shadowAutoFallback && zigDisabledReason == null) {
            zigDisabledReason = kernel + ": " + detail;
            LOG.error("engram divergence guard: switching subtask {} to the Java kernels "
                    + "(engram.kernels.shadow.auto-fallback=true). Roll back with rollback_to_java.sh and report it.",
                    subtask);
        }
    }

    /** Picks up a new control record if the broadcast state changed; cheap when it did not. */
    void observe(ReadOnlyBroadcastState<String, byte[]> state) throws Exception {
        byte[] bytes = state.get(CURRENT);
        if (bytes == seenControl) {
            return;
        }
        seenControl = bytes;
        control = bytes == null ? null : AvroCodec.decodeKernelControl(bytes);
        controlSpaces = control == null ? Set.of() : new HashSet<>(control.getSpaces());
        if (control != null) {
            LOG.info("engram kernel switch: mode {} for {} (reason: '{}', issued by {}, timestamp_ms {}){}",
                    control.getMode(), scopeText(control), control.getReason(), control.getIssuedBy(),
                    control.getTimestampMs(),
                    zig == null && "zig".equals(control.getMode())
                            ? "; this subtask has no Zig kernels loaded and stays on Java" : "");
        }
    }

    /** The kernels that serve this space now. */
    MemoryKernels forSpace(String space) {
        if (zigDisabledReason != null) {
            return meteredJava;
        }
        if (control != null && covers(control, controlSpaces, space)) {
            if ("java".equals(control.getMode()) || meteredZig == null) {
                return meteredJava;
            }
            return meteredZig;
        }
        return configured.mode() == KernelMode.ZIG ? meteredZig : meteredJava;
    }

    /** 1 when unscoped calls run on Zig: what the mode gauge shows. */
    int defaultModeIsZig() {
        if (zigDisabledReason != null) {
            return 0;
        }
        if (control != null && control.getSpaces().isEmpty() && control.getFraction() == null) {
            return "zig".equals(control.getMode()) && zig != null ? 1 : 0;
        }
        return configured.mode() == KernelMode.ZIG ? 1 : 0;
    }

    MemoryKernels configured() {
        return configured;
    }

    static boolean covers(KernelControl c, Set<String> spaces, String space) {
        if (!c.getSpaces().isEmpty()) {
            return spaces.contains(space);
        }
        if (c.getFraction() != null) {
            return stableFraction(space) < c.getFraction();
        }
        return true;
    }

    /**
     * A stable position of the space in [0, 1): FNV-1a over its UTF-8 bytes, then the MurmurHash3 64-bit finalizer
     * so that sequential names (space-1, space-2, ...) spread evenly. Same in every JVM and release.
     */
    static double stableFraction(String space) {
        long h = 0xcbf29ce484222325L;
        for (byte b : space.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return (h >>> 11) * 0x1.0p-53;
    }

    static void validate(KernelControl c) throws Rejection {
        if (!"zig".equals(c.getMode()) && !"java".equals(c.getMode())) {
            throw new Rejection(Reason.BAD_CONTROL, "mode '" + c.getMode() + "' must be zig or java");
        }
        Double f = c.getFraction();
        if (f != null && !(f > 0.0 && f <= 1.0)) {
            throw new Rejection(Reason.BAD_CONTROL, "fraction " + f + " must be in (0, 1]");
        }
        if (f != null && !c.getSpaces().isEmpty()) {
            throw new Rejection(Reason.BAD_CONTROL, "give either spaces or fraction, not both");
        }
        if (c.getReason() == null || c.getReason().isBlank()) {
            throw new Rejection(Reason.BAD_CONTROL, "a kernel switch needs a reason");
        }
    }

    private static String scopeText(KernelControl c) {
        if (!c.getSpaces().isEmpty()) {
            return "spaces " + c.getSpaces();
        }
        if (c.getFraction() != null) {
            return "fraction " + c.getFraction() + " of spaces";
        }
        return "all spaces";
    }

    @Override
    public void close() {
        configured.close();
        if (java != configured) {
            java.close();
        }
    }
}
