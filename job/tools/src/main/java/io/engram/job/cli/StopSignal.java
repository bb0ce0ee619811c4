package io.engram.job.cli;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.common.utils.Exit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * When a long-running command ({@code demo}, {@code run}, {@code broker}) should stop: Ctrl-C (SIGINT), SIGTERM,
 * the end of {@code --duration}, an interrupt of the command's thread (in-process use), or a fatal error reported
 * by a component (e.g. the in-process Kafka broker asking to exit).
 *
 * <p>SIGINT/SIGTERM are handled, not left to JVM shutdown hooks, so the command cleans up in order (cancel the job,
 * close the cluster, close the broker, delete temporary directories) and exits 0. A second signal while stopping
 * forces an immediate exit with 130.
 */
final class StopSignal implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StopSignal.class);

    private final CountDownLatch latch = new CountDownLatch(1);
    private final AtomicInteger signals = new AtomicInteger();
    private final PrintWriter err;
    private final List<Runnable> restore = new ArrayList<>();
    private volatile String reason;
    private volatile boolean failure;

    private StopSignal(PrintWriter err) {
        this.err = err;
    }

    /**
     * @param handleSignals install SIGINT/SIGTERM handlers (only when running as the process's main command; an
     *                      in-process caller stops the command by interrupting its thread)
     */
    static StopSignal create(PrintWriter err, boolean handleSignals) {
        StopSignal s = new StopSignal(err);
        if (handleSignals) {
            s.handle("INT");
            s.handle("TERM");
        }
        return s;
    }

    @SuppressWarnings("restriction")
    private void handle(String name) {
        try {
            sun.misc.Signal signal = new sun.misc.Signal(name);
            sun.misc.SignalHandler previous = sun.misc.Signal.handle(signal, sig -> onSignal("SIG" + name));
            restore.add(() -> sun.misc.Signal.handle(signal, previous));
        } catch (IllegalArgumentException | UnsupportedOperationException | LinkageError e) {
            // No signal support on this JVM/OS: the default (shutdown hooks) applies.
            LOG.info("cannot handle SIG{}: {}", name, e.toString());
        }
    }

    private void onSignal(String name) {
        if (signals.incrementAndGet() > 1) {
            err.println("engram: second " + name + " while stopping: exiting now, without cleanup");
            err.flush();
            Runtime.getRuntime().halt(130);
        }
        err.println();
        err.println("engram: " + name + " received: stopping cleanly (press Ctrl-C again to force)");
        err.flush();
        stop(name, false);
    }

    /**
     * In-process Kafka code calls {@code Exit.exit/halt} on fatal errors, which would end the whole JVM without
     * cleanup. Route those calls to this signal instead, as a failure; {@link #close()} restores the defaults.
     */
    void guardKafkaExit() {
        Exit.Procedure procedure = (code, message) -> {
            LOG.error("Kafka requested the JVM to exit with status {}: {}; stopping instead", code, message);
            stop("the embedded Kafka broker failed (exit status " + code + (message == null ? "" : ": " + message)
                    + ")", true);
        };
        Exit.setExitProcedure(procedure);
        Exit.setHaltProcedure(procedure);
        restore.add(() -> {
            Exit.resetExitProcedure();
            Exit.resetHaltProcedure();
        });
    }

    void stop(String why, boolean isFailure) {
        synchronized (this) {
            if (reason == null) {
                reason = why;
                failure = isFailure;
            }
        }
        latch.countDown();
    }

    boolean isStopped() {
        return latch.getCount() == 0;
    }

    /**
     * Waits until stopped or the timeout passed (null = forever). An interrupt of the waiting thread counts as a
     * stop request. Returns true if stopped.
     */
    boolean await(Duration timeout) {
        try {
            if (timeout == null) {
                latch.await();
                return true;
            }
            return latch.await(Math.max(0, timeout.toMillis()), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            stop("interrupted", false);
            return true;
        }
    }

    String reason() {
        return reason;
    }

    boolean failed() {
        return failure;
    }

    @Override
    public void close() {
        for (Runnable r : restore) {
            try {
                r.run();
            } catch (RuntimeException e) {
                LOG.debug("restoring a handler failed", e);
            }
        }
        restore.clear();
    }
}
