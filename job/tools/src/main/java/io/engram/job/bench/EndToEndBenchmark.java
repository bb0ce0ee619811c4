package io.engram.job.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.engram.job.config.EngramOptions;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.EventPosition;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Utils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The end-to-end benchmark driver (run by {@code deploy/scripts/benchmark_e2e.sh}; docs/benchmarks/e2e.md).
 *
 * <p>It starts a real Kafka broker (KRaft, {@link EmbeddedKafkaBroker}, in this JVM) and, for every space shape, chunk
 * size, kernel mode and state backend, the real job in a child JVM ({@code engram run}: {@code EngramJob.build} on a
 * MiniCluster, exactly-once Kafka sinks) on fresh topics, then:
 * <ol>
 *   <li>ingest: produces every StoreMemory event as fast as the producer goes and measures until the job has applied
 *       all of them (a probe recall per space whose cue is the space's last stored embedding returns that memory as
 *       its top hit; events of a space are in order on one partition, so everything before it is applied);</li>
 *   <li>saturation (closed loop): keeps {@code --in-flight} queries outstanding (a new one as soon as one is
 *       answered) after a warm-up; the answer rate is the maximum throughput;</li>
 *   <li>open loop: queries at a fixed rate of {@code --load} (0.8) x that maximum, on a schedule independent of the
 *       answers; latency runs from a query's scheduled produce time to the moment its result appears to a
 *       read_uncommitted consumer (results are written by transactional sinks; read_committed consumers see them
 *       only when the checkpoint that commits them completes, measured separately);</li>
 *   <li>recall check: {@code --verify-recall} queries whose answers must equal a brute-force reference
 *       ({@link RecallReference});</li>
 *   <li>verification: a read_committed consumer must see exactly one result for every query sent (probes included),
 *       no result for an unknown query, no dead letter, and every result computed by the requested kernel mode.</li>
 * </ol>
 * Then the consistency variants ({@code --consistency}): for the first shape, mode and backend, one run per variant
 * (arrival, event-time, read-your-writes), each with a background store stream into every space and an open loop at
 * the rate of the arrival run above, so the added latency of each consistency is measured at the same offered load.
 * Writes one JSON file; exits 1 when a verification fails, 2 on a usage error.
 */
public final class EndToEndBenchmark {
    private static final Logger LOG = LoggerFactory.getLogger(EndToEndBenchmark.class);
    static final String SCHEMA = "engram-e2e-bench/1";
    static final List<String> BACKENDS = List.of("hashmap", "rocksdb");
    /**
     * The job JVM's flags beyond the heap: those deploy/flink/config.yaml gives the TaskManagers
     * (env.java.opts.taskmanager; EndToEndBenchmarkTest keeps the two equal), so the job is measured as deployed.
     * --job-java-opts come after them and win.
     */
    static final List<String> TASKMANAGER_JAVA_OPTS = List.of("-XX:+UseTransparentHugePages",
            "-XX:ThreadPriorityPolicy=1", "-XX:JavaPriority1_To_OSPriority=10");
    static final List<String> CONSISTENCIES = List.of("arrival", "event-time", "read-your-writes");

    /**
     * PROBE: ingest detection; WARMUP / SATURATION: closed loop; OPEN_WARMUP / OPEN_LOOP / OPEN_TAIL: open loop (only
     * OPEN_LOOP is measured; the tail keeps both topics moving until it is answered); VERIFY: the recall check.
     */
    enum Phase { PROBE, WARMUP, SATURATION, OPEN_WARMUP, OPEN_LOOP, OPEN_TAIL, VERIFY }

    record Shape(int memories, int dim, int spaces) {
        static Shape parse(String s) {
            String[] p = s.trim().toLowerCase(Locale.ROOT).split("x");
            if (p.length != 3) {
                throw new IllegalArgumentException("shape '" + s + "' is not MEMORIESxDIMxSPACES, e.g. 10000x768x4");
            }
            Shape shape = new Shape(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]));
            if (shape.memories < 1 || shape.dim < 1 || shape.spaces < 1) {
                throw new IllegalArgumentException("shape '" + s + "' must be positive");
            }
            return shape;
        }

        String id() {
            return memories + "x" + dim;
        }

        String label() {
            String m = memories % 1000 == 0 ? memories / 1000 + "k" : String.valueOf(memories);
            return m + " x " + dim + "d";
        }
    }

    /**
     * One run: a fresh job on fresh topics. {@code chunkSize} null = the job's default; {@code writes}: a background
     * store stream during the open loop (the consistency variants).
     */
    record Variant(Shape shape, String mode, String backend, Integer chunkSize, String consistency, boolean writes) {
        String id() {
            return shape.id() + "-" + mode + "-" + backend + (chunkSize == null ? "" : "-c" + chunkSize)
                    + (writes ? "-" + consistency : "");
        }

        String label() {
            return shape.label() + ", " + mode + ", " + backend + (chunkSize == null ? "" : ", chunk " + chunkSize)
                    + (writes ? ", " + consistency : "");
        }

        /** The same job settings without the consistency and the background stream: the run that sets the rate. */
        Variant main() {
            return new Variant(shape, mode, backend, chunkSize, "arrival", false);
        }
    }

    /** Settings; presets first, then the explicit flags. */
    static final class Settings {
        String preset = "full";
        List<Shape> shapes = new ArrayList<>();
        List<String> modes = new ArrayList<>(List.of("zig", "java"));
        List<String> backends = new ArrayList<>(BACKENDS);
        /** Smoke only: rocksdb runs with the first mode only, so CI gets the backend without doubling the time. */
        boolean rocksdbFirstModeOnly;
        List<Integer> chunkSizes = new ArrayList<>();
        List<String> consistency = new ArrayList<>(List.of("arrival"));
        double backgroundWrites = 10;
        int verifyRecall = 20;
        boolean jfr;
        List<String> jobJavaOpts = new ArrayList<>();
        /** CPUs the job JVM may run on (taskset -c), e.g. to keep it off the load driver's and broker's; "" = all. */
        String jobCpus = "";
        int parallelism = 2;
        String jobHeap = "2g";
        double warmupS = 10;
        double saturationS = 20;
        double openLoopS = 30;
        int inFlight = 128;
        /** The query producer's linger.ms: 0 sends each query at once, as one produce request when the rate allows. */
        int queryLingerMs = 0;
        double load = 0.8;
        int k = 10;
        long seed = 42;
        Path localDir = Path.of("job/tools/target/engram-tools");
        Path out = Path.of("job/tools/target/bench-e2e/e2e-results.json");
        Path logDir;
        String note = "";
        String command = "";
        Map<String, String> conf = new LinkedHashMap<>();

        void preset(String name) {
            preset = name;
            switch (name) {
                case "full" -> {
                    shapes = new ArrayList<>(List.of(new Shape(10_000, 768, 4), new Shape(1_000, 384, 16)));
                    consistency = new ArrayList<>(CONSISTENCIES);
                    warmupS = 10;
                    saturationS = 20;
                    openLoopS = 30;
                    jobHeap = "2g";
                }
                case "quick" -> {
                    shapes = new ArrayList<>(List.of(new Shape(10_000, 768, 2), new Shape(1_000, 384, 8)));
                    warmupS = 5;
                    saturationS = 10;
                    openLoopS = 15;
                    jobHeap = "1536m";
                }
                case "smoke" -> {
                    shapes = new ArrayList<>(List.of(new Shape(1_000, 64, 2)));
                    rocksdbFirstModeOnly = true;
                    verifyRecall = 10;
                    warmupS = 2;
                    saturationS = 4;
                    openLoopS = 4;
                    jobHeap = "768m";
                    inFlight = 32;
                    conf.putIfAbsent("execution.checkpointing.interval", "2s");
                }
                default -> throw new IllegalArgumentException("unknown preset " + name);
            }
        }

        /**
         * The runs, in order: per shape and chunk size, each mode on each backend (the two backends of a mode next to
         * each other, so their ratio is measured close in time); then the consistency variants of the first shape,
         * chunk size, mode and backend.
         */
        List<Variant> variants() {
            List<Variant> out = new ArrayList<>();
            List<Integer> chunks = chunkSizes.isEmpty() ? Collections.singletonList(null) : chunkSizes;
            for (Shape shape : shapes) {
                for (Integer chunk : chunks) {
                    for (String mode : modes) {
                        for (String backend : backends) {
                            if (rocksdbFirstModeOnly && backend.equals("rocksdb") && !mode.equals(modes.get(0))) {
                                continue;
                            }
                            out.add(new Variant(shape, mode, backend, chunk, "arrival", false));
                        }
                    }
                }
            }
            if (consistency.size() > 1 || !consistency.get(0).equals("arrival")) {
                for (String c : consistency) {
                    out.add(new Variant(shapes.get(0), modes.get(0), backends.get(0), chunks.get(0), c, true));
                }
            }
            return out;
        }
    }

    /** One query sent: when, in which phase, and what came back. */
    static final class Sent {
        final Phase phase;
        final long scheduledNanos;
        final String expectTop;
        volatile long uncommittedNanos;
        volatile long committedNanos;
        final AtomicInteger uncommitted = new AtomicInteger();
        final AtomicInteger committed = new AtomicInteger();
        volatile String top;
        volatile String mode;
        volatile long computeUs;
        volatile boolean stale;
        /** The hits, kept for the recall check only. */
        volatile List<RecallHit> hits;

        Sent(Phase phase, long scheduledNanos, String expectTop) {
            this.phase = phase;
            this.scheduledNanos = scheduledNanos;
            this.expectTop = expectTop;
        }
    }

    private final Settings s;
    private final ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    EndToEndBenchmark(Settings s) {
        this.s = s;
    }

    public static void main(String[] args) throws Exception {
        Settings s;
        try {
            s = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("benchmark_e2e: " + e.getMessage());
            System.exit(2);
            return;
        }
        int rc = new EndToEndBenchmark(s).run();
        System.exit(rc);
    }

    static Settings parse(String[] args) {
        Settings s = new Settings();
        String preset = "full";
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--preset")) {
                preset = value(args, ++i, "--preset");
            }
        }
        s.preset(preset);
        List<Shape> shapes = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--preset" -> i++;
                case "--shapes" -> {
                    shapes = new ArrayList<>();
                    for (String p : value(args, ++i, a).split(",")) {
                        shapes.add(Shape.parse(p));
                    }
                }
                case "--modes" -> s.modes = list(value(args, ++i, a));
                case "--backends" -> {
                    s.backends = list(value(args, ++i, a));
                    s.rocksdbFirstModeOnly = false;
                }
                case "--chunk-sizes" -> {
                    s.chunkSizes = new ArrayList<>();
                    for (String c : list(value(args, ++i, a))) {
                        s.chunkSizes.add(Integer.parseInt(c));
                    }
                }
                case "--consistency" -> s.consistency = list(value(args, ++i, a));
                case "--background-writes" -> s.backgroundWrites = Double.parseDouble(value(args, ++i, a));
                case "--verify-recall" -> s.verifyRecall = Integer.parseInt(value(args, ++i, a));
                case "--jfr" -> s.jfr = true;
                case "--job-java-opts" -> s.jobJavaOpts = new ArrayList<>(Arrays.asList(
                        value(args, ++i, a).trim().split("\\s+")));
                case "--job-cpus" -> s.jobCpus = cpuList(value(args, ++i, a), a);
                case "--parallelism" -> s.parallelism = Integer.parseInt(value(args, ++i, a));
                case "--job-heap" -> s.jobHeap = value(args, ++i, a);
                case "--warmup" -> s.warmupS = Double.parseDouble(value(args, ++i, a));
                case "--saturation" -> s.saturationS = Double.parseDouble(value(args, ++i, a));
                case "--open-loop" -> s.openLoopS = Double.parseDouble(value(args, ++i, a));
                case "--in-flight" -> s.inFlight = Integer.parseInt(value(args, ++i, a));
                case "--query-linger-ms" -> s.queryLingerMs = Integer.parseInt(value(args, ++i, a));
                case "--load" -> s.load = Double.parseDouble(value(args, ++i, a));
                case "--k" -> s.k = Integer.parseInt(value(args, ++i, a));
                case "--seed" -> s.seed = Long.parseLong(value(args, ++i, a));
                case "--local-dir" -> s.localDir = Path.of(value(args, ++i, a));
                case "--out" -> s.out = Path.of(value(args, ++i, a));
                case "--log-dir" -> s.logDir = Path.of(value(args, ++i, a));
                case "--note" -> s.note = value(args, ++i, a);
                case "--command" -> s.command = value(args, ++i, a);
                case "--conf" -> {
                    String kv = value(args, ++i, a);
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("--conf needs key=value, got '" + kv + "'");
                    }
                    String key = kv.substring(0, eq).trim();
                    String owner = switch (key) {
                        case "engram.kernels.mode" -> "--modes";
                        case "state.backend.type" -> "--backends";
                        case "engram.recall.consistency" -> "--consistency";
                        default -> key.startsWith("engram.topics.") || key.equals("engram.kafka.bootstrap-servers")
                                ? "the benchmark itself" : null;
                    };
                    if (owner != null) {
                        throw new IllegalArgumentException("--conf " + key + " is set by " + owner);
                    }
                    s.conf.put(key, kv.substring(eq + 1).trim());
                }
                default -> throw new IllegalArgumentException("unknown argument " + a);
            }
        }
        if (shapes != null) {
            s.shapes = shapes;
        }
        if (!s.chunkSizes.isEmpty() && s.conf.containsKey("engram.state.chunk-size")) {
            throw new IllegalArgumentException("--conf engram.state.chunk-size and --chunk-sizes: give one");
        }
        check(s.modes, List.of("zig", "java"), "--modes");
        check(s.backends, BACKENDS, "--backends");
        check(s.consistency, CONSISTENCIES, "--consistency");
        for (int c : s.chunkSizes) {
            if (c < 1 || c > 65536) {
                throw new IllegalArgumentException("--chunk-sizes takes sizes in 1..65536, got " + c);
            }
        }
        if (s.parallelism < 1 || s.inFlight < 1 || s.load <= 0 || s.load > 1 || s.saturationS <= 0
                || s.openLoopS <= 0 || s.warmupS < 0 || s.verifyRecall < 0 || s.backgroundWrites <= 0
                || s.queryLingerMs < 0) {
            throw new IllegalArgumentException("--parallelism/--in-flight must be >= 1, --load in (0, 1], "
                    + "--saturation/--open-loop/--background-writes > 0, "
                    + "--warmup/--verify-recall/--query-linger-ms >= 0");
        }
        if (s.logDir == null) {
            s.logDir = s.out.toAbsolutePath().getParent();
        }
        return s;
    }

    private static List<String> list(String v) {
        List<String> out = new ArrayList<>();
        for (String x : v.split(",")) {
            if (!x.isBlank()) {
                out.add(x.trim());
            }
        }
        return out;
    }

    private static void check(List<String> given, List<String> allowed, String flag) {
        if (given.isEmpty() || given.stream().distinct().count() != given.size()) {
            throw new IllegalArgumentException(flag + " needs distinct values out of " + allowed);
        }
        for (String g : given) {
            if (!allowed.contains(g)) {
                throw new IllegalArgumentException(flag + " takes " + String.join(", ", allowed) + "; got '" + g
                        + "'");
            }
        }
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        return args[i];
    }

    // ------------------------------------------------------------------------------------------------- run ----

    int run() throws Exception {
        Files.createDirectories(s.logDir);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("schema", SCHEMA);
        doc.put("date", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        doc.put("preset", s.preset);
        doc.put("command", s.command);
        doc.put("note", s.note);
        doc.put("machine", machine());
        Map<String, Object> versions = new LinkedHashMap<>();
        versions.put("flink", EnvironmentInformation.getVersion());
        versions.put("kafka", AppInfoParser.getVersion());
        versions.put("java", System.getProperty("java.vm.vendor") + " " + System.getProperty("java.runtime.version"));
        doc.put("versions", versions);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("parallelism", s.parallelism);
        config.put("job_heap", s.jobHeap);
        config.put("warmup_s", s.warmupS);
        config.put("saturation_s", s.saturationS);
        config.put("open_loop_s", s.openLoopS);
        config.put("query_linger_ms", s.queryLingerMs);
        config.put("in_flight", s.inFlight);
        config.put("load", s.load);
        config.put("k", s.k);
        config.put("seed", s.seed);
        config.put("backends", s.backends);
        config.put("default_chunk_size", EngramOptions.STATE_CHUNK_SIZE.defaultValue());
        config.put("chunk_sizes", s.chunkSizes);
        config.put("consistency", s.consistency);
        config.put("background_writes_per_space_s", s.backgroundWrites);
        config.put("verify_recall", s.verifyRecall);
        config.put("taskmanager_java_opts", TASKMANAGER_JAVA_OPTS);
        config.put("job_java_opts", s.jobJavaOpts);
        // Where each JVM may run, as the kernel reports it (taskset, cgroups): the driver's JVM also runs the broker.
        config.put("job_cpus", s.jobCpus.isEmpty() ? "all" : s.jobCpus);
        config.put("driver_cpus_allowed", cpusAllowed(ProcessHandle.current().pid()));
        config.put("job_conf", jobConf(new Variant(s.shapes.get(0), "MODE", "BACKEND", null, "arrival", false),
                "PREFIX"));
        doc.put("config", config);
        List<Map<String, Object>> runs = new ArrayList<>();
        doc.put("runs", runs);
        boolean ok = true;

        String loadBefore = loadAverage();
        System.out.println("benchmark_e2e: starting a Kafka broker");
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start()) {
            System.out.println("benchmark_e2e: Kafka " + AppInfoParser.getVersion() + " at " + broker.bootstrapServers());
            int n = 0;
            Map<Variant, Double> maxQps = new LinkedHashMap<>();
            for (Variant v : s.variants()) {
                n++;
                String prefix = "e2e" + n + "-" + v.id();
                Shape shape = v.shape();
                System.out.printf(Locale.ROOT, "benchmark_e2e: [%s] %d spaces of %d memories x %dd%n", v.label(),
                        shape.spaces, shape.memories, shape.dim);
                Map<String, Object> r;
                try {
                    Double rate = null;
                    if (v.writes()) {
                        Double max = maxQps.get(v.main());
                        if (max == null) {
                            throw new IllegalStateException("no maximum throughput of " + v.main().label()
                                    + " to set the open loop's rate");
                        }
                        rate = max * s.load;
                    }
                    r = runOne(broker, v, prefix, n, rate);
                    Object sat = r.get("saturation");
                    if (sat != null) {
                        maxQps.put(v, ((Number) castMap(sat).get("qps")).doubleValue());
                    }
                } catch (Exception e) {
                    LOG.error("run {} failed", prefix, e);
                    System.out.println("benchmark_e2e: [" + v.label() + "] FAILED: " + e);
                    r = describe(v);
                    r.put("error", String.valueOf(e));
                    r.put("ok", false);
                }
                ok &= Boolean.TRUE.equals(r.get("ok"));
                runs.add(r);
                writeJson(doc); // partial results survive a later failure
            }
        }
        Map<String, Object> machine = castMap(doc.get("machine"));
        machine.put("load_average_start", loadBefore);
        machine.put("load_average_end", loadAverage());
        doc.put("ratios", ratios(runs));
        doc.put("ok", ok);
        writeJson(doc);
        System.out.println("benchmark_e2e: results in " + s.out + (ok ? "" : " (VERIFICATION FAILED)"));
        return ok ? 0 : 1;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Object o) {
        return (Map<String, Object>) o;
    }

    private void writeJson(Map<String, Object> doc) throws IOException {
        Path out = s.out.toAbsolutePath();
        Files.createDirectories(out.getParent());
        json.writeValue(out.toFile(), doc);
    }

    /** Zig / Java queries/s per shape, backend and chunk size (the main runs only). */
    static List<Map<String, Object>> ratios(List<Map<String, Object>> runs) {
        List<Map<String, Object>> out = new ArrayList<>();
        Map<String, Map<String, Double>> byGroup = new LinkedHashMap<>();
        Map<String, Map<String, Object>> groupInfo = new LinkedHashMap<>();
        for (Map<String, Object> r : runs) {
            Object sat = r.get("saturation");
            if (sat == null || Boolean.TRUE.equals(r.get("background_writes"))) {
                continue;
            }
            Map<String, Object> sh = castMap(r.get("shape"));
            String shape = sh.get("memories") + "x" + sh.get("dim");
            String backend = String.valueOf(r.getOrDefault("backend", "hashmap"));
            Object chunk = r.get("chunk_size");
            String key = shape + "/" + backend + "/" + chunk;
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("shape", shape);
            info.put("backend", backend);
            info.put("chunk_size", chunk);
            groupInfo.putIfAbsent(key, info);
            byGroup.computeIfAbsent(key, x -> new LinkedHashMap<>())
                    .put((String) r.get("mode"), ((Number) castMap(sat).get("qps")).doubleValue());
            Object perCpu = castMap(sat).get("queries_per_job_cpu_s");
            if (perCpu != null) {
                byGroup.get(key).put(r.get("mode") + "_cpu", ((Number) perCpu).doubleValue());
            }
        }
        byGroup.forEach((key, m) -> {
            if (m.containsKey("zig") && m.containsKey("java") && m.get("java") > 0) {
                Map<String, Object> x = new LinkedHashMap<>(groupInfo.get(key));
                x.put("zig_qps", m.get("zig"));
                x.put("java_qps", m.get("java"));
                x.put("zig_over_java", m.get("zig") / m.get("java"));
                if (m.containsKey("zig_cpu") && m.containsKey("java_cpu")) {
                    x.put("zig_queries_per_job_cpu_s", m.get("zig_cpu"));
                    x.put("java_queries_per_job_cpu_s", m.get("java_cpu"));
                    x.put("zig_over_java_per_cpu_s", m.get("zig_cpu") / m.get("java_cpu"));
                }
                out.add(x);
            }
        });
        return out;
    }

    private static Map<String, Object> shapeMap(Shape shape) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("memories", shape.memories);
        m.put("dim", shape.dim);
        m.put("spaces", shape.spaces);
        m.put("label", shape.label());
        return m;
    }

    private Map<String, Object> describe(Variant v) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("shape", shapeMap(v.shape()));
        r.put("mode", v.mode());
        r.put("backend", v.backend());
        r.put("chunk_size", v.chunkSize() != null ? v.chunkSize() : Integer.valueOf(s.conf.getOrDefault(
                "engram.state.chunk-size", String.valueOf(EngramOptions.STATE_CHUNK_SIZE.defaultValue()))));
        r.put("consistency", v.consistency());
        r.put("background_writes", v.writes());
        return r;
    }

    /** The -D settings the job child gets (topics, group and transactional ids are per run). */
    Map<String, String> jobConf(Variant v, String prefix) {
        Map<String, String> c = new LinkedHashMap<>();
        c.put("engram.kernels.mode", v.mode());
        c.put("engram.topics.memory-events", prefix + ".memory-events");
        c.put("engram.topics.recall-queries", prefix + ".recall-queries");
        c.put("engram.topics.recall-results", prefix + ".recall-results");
        c.put("engram.topics.dead-letters", prefix + ".dead-letters");
        c.put("engram.topics.control", prefix + ".control");
        c.put("engram.kafka.group-id", prefix);
        c.put("engram.kafka.transactional-id-prefix", prefix);
        c.put("state.backend.type", v.backend());
        if (v.backend().equals("rocksdb")) {
            // What deploy/flink/config.yaml and the k8s manifests run: a checkpoint uploads the files changed since
            // the last one, not the whole state.
            c.put("execution.checkpointing.incremental", "true");
        }
        if (v.chunkSize() != null) {
            c.put("engram.state.chunk-size", String.valueOf(v.chunkSize()));
        }
        // read-your-writes is a property of the queries (they name positions), not of the job: it runs in arrival.
        c.put("engram.recall.consistency", v.consistency().equals("event-time") ? "event-time" : "arrival");
        if (v.writes()) {
            // The ingest stamps a whole space with one timestamp: in event-time mode all of it waits for the watermark
            // at once, and past engram.limits.max-waiting-per-space (10,000) the rest would be dead-lettered. The
            // same limit in all three variants, so that only the consistency differs.
            c.put(EngramOptions.MAX_WAITING_PER_SPACE.key(), String.valueOf(Math.max(
                    EngramOptions.MAX_WAITING_PER_SPACE.defaultValue(), v.shape().memories + 10_000)));
        }
        // Flink flushes network buffers every 100 ms by default: that alone would be most of a recall's latency.
        c.put("execution.buffer-timeout.interval", "5ms");
        // A failure must show as a failure, not as a silent restart inside the measurement.
        c.put("restart-strategy.type", "none");
        c.putAll(s.conf);
        return c;
    }

    private Map<String, Object> runOne(EmbeddedKafkaBroker broker, Variant variant, String prefix, int n,
                                       Double fixedRate) throws Exception {
        Shape shape = variant.shape();
        String mode = variant.mode();
        Map<String, String> conf = jobConf(variant, prefix);
        broker.createTopics(s.parallelism, conf.get("engram.topics.memory-events"),
                conf.get("engram.topics.recall-queries"), conf.get("engram.topics.recall-results"),
                conf.get("engram.topics.dead-letters"), conf.get("engram.topics.control"));
        String bootstrap = broker.bootstrapServers();
        List<String> spaces = balancedSpaces(shape, s.parallelism, maxParallelism(conf), s.parallelism);
        Path jobLog = s.logDir.resolve("job-" + prefix + ".log");
        Map<String, Object> r = describe(variant);
        r.put("spaces", spaces);
        r.put("job_log", jobLog.getFileName().toString());
        ConcurrentHashMap<String, Sent> sent = new ConcurrentHashMap<>();
        AtomicLong unknown = new AtomicLong();
        Semaphore window = new Semaphore(s.inFlight);
        List<RecallReference.Query> checks = new ArrayList<>();

        try (JobProcess job = JobProcess.start(s, bootstrap, conf, jobLog, prefix);
             ResultReader unc = new ResultReader(bootstrap, conf.get("engram.topics.recall-results"), false, sent,
                     unknown, window);
             ResultReader com = new ResultReader(bootstrap, conf.get("engram.topics.recall-results"), true, sent,
                     unknown, null);
             KafkaProducer<byte[], byte[]> producer = producer(bootstrap, 20, 1 << 19)) {
            r.put("job_start_s", job.startSeconds);
            r.put("job_cpus_allowed", cpusAllowed(job.pid()));
            unc.start();
            com.start();

            // ----- ingest
            String eventsTopic = conf.get("engram.topics.memory-events");
            String queriesTopic = conf.get("engram.topics.recall-queries");
            Map<String, float[]> last = new LinkedHashMap<>();
            Map<String, EventPosition> positions = new ConcurrentHashMap<>();
            long now = System.currentTimeMillis();
            long t0 = System.nanoTime();
            AtomicReference<Exception> sendFailure = new AtomicReference<>();
            RecallReference.forEachStored(ingestSeed(n), shape.memories, shape.dim, spaces.size(), (i, si, v) -> {
                String space = spaces.get(si);
                if (i == shape.memories - 1) {
                    last.put(space, v);
                }
                MemoryEvent e = MemoryEvent.newBuilder()
                        .setSpace(space)
                        .setEventId(space + "-e" + i)
                        .setTimestampMs(now)
                        .setPayload(StoreMemory.newBuilder().setMemoryId("m" + i).setEmbedding(boxed(v))
                                .setStrength(1.0f).setStabilityS(null).setContent(null).build())
                        .build();
                producer.send(new ProducerRecord<>(eventsTopic, key(space), AvroCodec.encode(e)), (md, ex) -> {
                    if (ex != null) {
                        sendFailure.compareAndSet(null, ex);
                    } else {
                        positions.merge(space, new EventPosition(md.partition(), md.offset()),
                                (a, b) -> b.getOffset() > a.getOffset() ? b : a);
                    }
                });
            });
            producer.flush();
            if (sendFailure.get() != null) {
                throw sendFailure.get();
            }
            long produced = System.nanoTime();
            long events = (long) shape.memories * shape.spaces;
            long loaded = awaitLoaded(producer, queriesTopic, last, sent, job, shape);
            Map<String, Object> ingest = new LinkedHashMap<>();
            ingest.put("events", events);
            ingest.put("produce_s", sec(produced - t0));
            ingest.put("applied_s", sec(loaded - t0));
            ingest.put("events_per_s", events / sec(loaded - t0));
            ingest.put("mb", events * (shape.dim * 4.0) / 1e6);
            Map<String, Double> stateMetrics = job.stateMetrics();
            Double written = stateMetrics.get("bytesWritten");
            if (written != null) {
                ingest.put("state_bytes_written_per_event", written / events);
            }
            r.put("ingest", ingest);
            System.out.printf(Locale.ROOT, "  ingest: %d events applied in %.1f s = %.0f events/s%s%n", events,
                    sec(loaded - t0), events / sec(loaded - t0), written == null ? ""
                            : String.format(Locale.ROOT, " (%.0f state bytes written per event)", written / events));

            Random rnd = new Random(s.seed * 31 + n);
            float[][] cues = new float[256][];
            for (int i = 0; i < cues.length; i++) {
                cues[i] = unitVector(rnd, shape.dim);
            }
            try (KafkaProducer<byte[], byte[]> qp = producer(bootstrap, s.queryLingerMs, 1 << 16)) {
                double rate;
                if (fixedRate == null) {
                    rate = s.load * saturate(r, job, qp, queriesTopic, spaces, cues, rnd, sent, window);
                } else {
                    rate = fixedRate;
                }
                // ----- open loop at load x max (with a background store stream in the consistency variants)
                Map<String, Object> open;
                try (BackgroundWriter writer = new BackgroundWriter(producer(bootstrap, 0, 1 << 16), eventsTopic,
                        spaces, shape.dim, variant.writes() ? s.backgroundWrites : 0, s.seed * 17 + n, positions)) {
                    if (variant.writes()) {
                        writer.start();
                        openLoop(qp, queriesTopic, spaces, cues, rnd, rate, s.warmupS, Phase.OPEN_WARMUP, writer,
                                variant, job, sent);
                    }
                    open = openLoop(qp, queriesTopic, spaces, cues, rnd, rate, s.openLoopS, Phase.OPEN_LOOP, writer,
                            variant, job, sent);
                    if (variant.writes()) {
                        open.put("background_stores_sent", writer.sent());
                        open.put("background_stores_acked", writer.acked());
                        if (writer.failure() != null) {
                            throw writer.failure();
                        }
                    }
                }
                open.put("checkpoints", job.checkpoints((long) open.get("start_wall_ms")));
                awaitAnswered(sent, Duration.ofSeconds(120), job);
                r.put("open_loop", open);

                // ----- recall check: answers against the brute-force reference (computed after the job stopped)
                if (!variant.writes() && s.verifyRecall > 0) {
                    Random vr = new Random(s.seed * 37 + n);
                    for (int i = 0; i < s.verifyRecall; i++) {
                        RecallReference.Query q = new RecallReference.Query("v" + i, spaces.get(i % spaces.size()),
                                unitVector(vr, shape.dim));
                        checks.add(q);
                        sendQuery(qp, queriesTopic, q.space(), q.id(), q.cue(), Phase.VERIFY, System.nanoTime(), null,
                                null, sent);
                    }
                    qp.flush();
                    awaitAnswered(sent, Duration.ofSeconds(600), job);
                }

                // ----- verification: read_committed must see exactly one result per query
                Duration commitWait = Duration.ofSeconds(60).plus(checkpointInterval(conf).multipliedBy(3));
                awaitCommitted(sent, commitWait, job);
                Thread.sleep(1000); // a late duplicate would show up now
                open.put("committed_latency_ms", percentiles(latencies(sent, Phase.OPEN_LOOP, true)));
                Map<String, Object> lat = castMap(open.get("latency_ms"));
                System.out.printf(Locale.ROOT, "  open loop at %.1f queries/s: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms "
                                + "(read_committed p50 %.0f ms)%s%n", rate, lat.get("p50"), lat.get("p95"),
                        lat.get("p99"), castMap(open.get("committed_latency_ms")).get("p50"),
                        variant.writes() ? ", stale answers " + open.get("stale") : "");
            }
            Map<String, Object> v = verify(sent, unknown.get(), mode,
                    countRecords(bootstrap, conf.get("engram.topics.dead-letters")));
            List<String> readerErrors = new ArrayList<>();
            unc.errors.forEach(t -> readerErrors.add("read_uncommitted: " + t));
            com.errors.forEach(t -> readerErrors.add("read_committed: " + t));
            if (!readerErrors.isEmpty()) {
                v.put("reader_errors", readerErrors);
                v.put("ok", false);
            }
            r.put("verification", v);
            r.put("ok", v.get("ok"));
            System.out.println("  verification: " + v);
            r.put("job_peak_rss_mb", job.peakRssMb());
            job.stop();
            r.put("job_exit", job.exitCode());
        }
        if (!checks.isEmpty()) {
            long t = System.nanoTime();
            Map<String, List<RecallHit>> answers = new LinkedHashMap<>();
            for (RecallReference.Query q : checks) {
                Sent x = sent.get(q.id());
                if (x != null && x.hits != null) {
                    answers.put(q.id(), x.hits);
                }
            }
            Map<String, Object> check = RecallReference.compare(
                    RecallReference.topK(ingestSeed(n), shape.memories, shape.dim, spaces, checks, s.k, 16), answers,
                    Math.min(s.k, shape.memories));
            check.put("reference_s", sec(System.nanoTime() - t));
            r.put("recall_check", check);
            System.out.println("  recall check against the brute-force reference: " + check);
            if (!Boolean.TRUE.equals(check.get("ok"))) {
                r.put("ok", false);
            }
        }
        return r;
    }

    private long ingestSeed(int n) {
        return s.seed + n;
    }

    /** Closed loop: warm-up, then the saturation window; records it in {@code r} and returns the queries/s. */
    private double saturate(Map<String, Object> r, JobProcess job, KafkaProducer<byte[], byte[]> qp, String topic,
                            List<String> spaces, float[][] cues, Random rnd, ConcurrentHashMap<String, Sent> sent,
                            Semaphore window) throws Exception {
        long warmEnd = System.nanoTime() + (long) (s.warmupS * 1e9);
        long satEnd = warmEnd + (long) (s.saturationS * 1e9);
        long q = 0;
        double[] cpuAtStart = null;
        Map<String, Double> metricsAtStart = Map.of();
        while (true) {
            long t = System.nanoTime();
            if (t >= satEnd) {
                break;
            }
            if (cpuAtStart == null && t >= warmEnd) {
                cpuAtStart = new double[] {job.cpuSeconds(), cpuSeconds(ProcessHandle.current())};
                metricsAtStart = job.stateMetrics();
            }
            job.check();
            if (!window.tryAcquire(100, TimeUnit.MILLISECONDS)) {
                continue;
            }
            long ts = System.nanoTime();
            Phase phase = ts < warmEnd ? Phase.WARMUP : Phase.SATURATION;
            sendQuery(qp, topic, spaces.get(rnd.nextInt(spaces.size())), "c" + (q++), cues[rnd.nextInt(cues.length)],
                    phase, ts, null, null, sent);
        }
        // Answer rate inside the saturation window (by arrival time), whatever phase the query was sent in.
        double[] cpuAtEnd = {job.cpuSeconds(), cpuSeconds(ProcessHandle.current())};
        Map<String, Double> stateAtEnd = job.stateMetrics();
        long answered = sent.values().stream().filter(x -> (x.phase == Phase.WARMUP || x.phase == Phase.SATURATION)
                && x.uncommittedNanos >= warmEnd && x.uncommittedNanos < satEnd).count();
        double qps = answered / s.saturationS;
        awaitAnswered(sent, Duration.ofSeconds(60), job);
        Map<String, Object> sat = new LinkedHashMap<>();
        sat.put("method", "closed loop, " + s.inFlight + " queries in flight");
        sat.put("seconds", s.saturationS);
        sat.put("answered", answered);
        sat.put("qps", qps);
        if (cpuAtStart != null && cpuAtEnd[0] > cpuAtStart[0]) {
            double jobCpu = cpuAtEnd[0] - cpuAtStart[0];
            // CPU time the job's JVM used in the window: unlike queries/s, queries per CPU-second does not
            // depend on how much of the machine other processes took.
            sat.put("job_cpu_s", jobCpu);
            sat.put("job_cpu_cores", jobCpu / s.saturationS);
            sat.put("queries_per_job_cpu_s", answered / jobCpu);
            sat.put("driver_cpu_cores", (cpuAtEnd[1] - cpuAtStart[1]) / s.saturationS);
        }
        if (stateAtEnd.containsKey("cacheHits") && stateAtEnd.containsKey("cacheMisses")) {
            double h = stateAtEnd.get("cacheHits");
            double m = stateAtEnd.get("cacheMisses");
            sat.put("state_cache_hit_ratio", h + m > 0 ? h / (h + m) : null);
            sat.put("state_cache_mb", stateAtEnd.getOrDefault("cacheBytes", 0.0) / 1e6);
        }
        // read at the window's end, before the wait for the last answers: the batches of the window (and a few late)
        sat.put("recall_batches", batching(metricsAtStart, stateAtEnd));
        sat.put("latency_ms", percentiles(latencies(sent, Phase.SATURATION, false)));
        sat.put("job_compute_ms", percentiles(compute(sent, Phase.SATURATION)));
        r.put("saturation", sat);
        System.out.printf(Locale.ROOT, "  saturation (closed loop, %d in flight): %.1f queries/s%n", s.inFlight, qps);
        if (qps <= 0) {
            throw new IllegalStateException("no query was answered in the saturation window");
        }
        return qps;
    }

    /**
     * Queries at a fixed rate for {@code seconds} on a schedule that does not wait for answers. In the consistency
     * variants ({@code variant.writes()}) a read-your-writes query names its space's latest acknowledged store, and
     * the measured phase is followed by a tail at the same rate until every measured query is answered: in event-time
     * mode a query is answered when the watermark of both topics passes it, so the last ones would otherwise wait for
     * the idleness release instead.
     */
    private Map<String, Object> openLoop(KafkaProducer<byte[], byte[]> qp, String topic, List<String> spaces,
                                         float[][] cues, Random rnd, double rate, double seconds, Phase phase,
                                         BackgroundWriter writer, Variant variant, JobProcess job,
                                         ConcurrentHashMap<String, Sent> sent) throws Exception {
        boolean ryw = variant.consistency().equals("read-your-writes");
        // the job's recall counters and CPU around the measured queries, read before the schedule starts
        Map<String, Double> metricsAtStart = phase == Phase.OPEN_LOOP ? job.stateMetrics() : Map.of();
        long cpuStartNanos = System.nanoTime();
        double cpuAtStart = phase == Phase.OPEN_LOOP ? job.cpuSeconds() : 0;
        double driverCpuAtStart = phase == Phase.OPEN_LOOP ? cpuSeconds(ProcessHandle.current()) : 0;
        long interval = (long) (1e9 / rate);
        long start = System.nanoTime() + 50_000_000L;
        long startWallMs = System.currentTimeMillis() + 50;
        long total = Math.max(1, (long) (rate * seconds));
        long maxLag = 0;
        String idPrefix = phase == Phase.OPEN_LOOP ? "o" : "ow";
        long tailDeadline = Long.MAX_VALUE;
        long tail = 0;
        for (long i = 0; ; i++) {
            boolean measured = i < total;
            if (!measured) {
                if (!variant.writes() || phase != Phase.OPEN_LOOP) {
                    break;
                }
                if (tailDeadline == Long.MAX_VALUE) {
                    tailDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                }
                if ((i & 15) == 0 && (System.nanoTime() > tailDeadline || sent.values().stream()
                        .allMatch(x -> x.phase != Phase.OPEN_LOOP || x.uncommittedNanos != 0))) {
                    break;
                }
                tail++;
            }
            long at = start + i * interval;
            long wait;
            while ((wait = at - System.nanoTime()) > 0) {
                LockSupport.parkNanos(wait);
            }
            if (measured) {
                maxLag = Math.max(maxLag, System.nanoTime() - at);
            }
            String space = spaces.get(rnd.nextInt(spaces.size()));
            EventPosition after = ryw ? writer.latest(space) : null;
            sendQuery(qp, topic, space, (measured ? idPrefix : "ot") + i, cues[rnd.nextInt(cues.length)],
                    measured ? phase : Phase.OPEN_TAIL, at, null, after, sent);
            if ((i & 63) == 0) {
                job.check();
            }
        }
        long openEnd = start + total * interval;
        Map<String, Object> open = new LinkedHashMap<>();
        if (phase != Phase.OPEN_LOOP) {
            return open;
        }
        double cpuAtEnd = job.cpuSeconds();
        double driverCpuAtEnd = cpuSeconds(ProcessHandle.current());
        long cpuEndNanos = System.nanoTime();
        awaitAnswered(sent, Duration.ofSeconds(120), job, Phase.OPEN_LOOP);
        Map<String, Double> metricsAtEnd = job.stateMetrics();
        long lastAnswer = sent.values().stream().filter(x -> x.phase == Phase.OPEN_LOOP)
                .mapToLong(x -> x.uncommittedNanos).max().orElse(openEnd);
        open.put("method", "open loop, fixed rate" + (variant.writes() ? ", background stores" : "")
                + (ryw ? ", queries name their space's latest acknowledged store (after_positions)" : ""));
        open.put("target_qps", rate);
        open.put("seconds", seconds);
        open.put("sent", total);
        open.put("achieved_qps", total / sec(lastAnswer - start));
        open.put("max_send_lag_ms", maxLag / 1e6);
        open.put("latency_ms", percentiles(latencies(sent, Phase.OPEN_LOOP, false)));
        open.put("job_compute_ms", percentiles(compute(sent, Phase.OPEN_LOOP)));
        // CPU until the last query was sent (the same span as target_qps); batches until every one was answered
        open.put("job_cpu_cores", (cpuAtEnd - cpuAtStart) / sec(cpuEndNanos - cpuStartNanos));
        // the driver's JVM holds the broker too: with the job's, how much of the machine the fixed rate took
        open.put("driver_cpu_cores", (driverCpuAtEnd - driverCpuAtStart) / sec(cpuEndNanos - cpuStartNanos));
        open.put("recall_batches", batching(metricsAtStart, metricsAtEnd));
        open.put("stale", sent.values().stream().filter(x -> x.phase == Phase.OPEN_LOOP && x.stale).count());
        if (variant.writes()) {
            open.put("tail_queries", tail);
        }
        open.put("timeline", timeline(sent, start, (int) Math.ceil(seconds)));
        open.put("start_wall_ms", startWallMs);
        return open;
    }

    private static long maxParallelism(Map<String, String> conf) {
        String v = conf.get("pipeline.max-parallelism");
        return v == null ? -1 : Long.parseLong(v);
    }

    static Duration checkpointInterval(Map<String, String> conf) {
        String v = conf.getOrDefault("execution.checkpointing.interval", "10s").trim().toLowerCase(Locale.ROOT);
        try {
            return org.apache.flink.util.TimeUtils.parseDuration(v);
        } catch (RuntimeException e) {
            return Duration.ofSeconds(10);
        }
    }

    /**
     * Space names spread evenly over the Kafka partitions (the producer hashes the key) and over the memory
     * operator's subtasks (Flink hashes the key into key groups), so no subtask idles.
     */
    static List<String> balancedSpaces(Shape shape, int partitions, long maxParallelismConf, int parallelism) {
        int maxPar = maxParallelismConf > 0 ? (int) maxParallelismConf
                : KeyGroupRangeAssignment.computeDefaultMaxParallelism(parallelism);
        int perPartition = (shape.spaces + partitions - 1) / partitions;
        int perSubtask = (shape.spaces + parallelism - 1) / parallelism;
        int[] byPartition = new int[partitions];
        int[] bySubtask = new int[parallelism];
        List<String> out = new ArrayList<>();
        for (int j = 0; out.size() < shape.spaces && j < 1_000_000; j++) {
            String name = "b" + shape.dim + "-" + shape.memories + "-" + j;
            int p = Utils.toPositive(Utils.murmur2(key(name))) % partitions;
            int t = KeyGroupRangeAssignment.assignKeyToParallelOperator(name, maxPar, parallelism);
            if (byPartition[p] < perPartition && bySubtask[t] < perSubtask) {
                byPartition[p]++;
                bySubtask[t]++;
                out.add(name);
            }
        }
        return out;
    }

    private long awaitLoaded(KafkaProducer<byte[], byte[]> producer, String topic, Map<String, float[]> last,
                             ConcurrentHashMap<String, Sent> sent, JobProcess job, Shape shape) throws Exception {
        String lastId = "m" + (shape.memories - 1);
        Map<String, Long> loadedAt = new LinkedHashMap<>();
        Map<String, String> pending = new LinkedHashMap<>();
        // At least 10 minutes, and 200 events/s for big loads (one 200k x 768d space on RocksDB applied 600/s).
        long limitS = Math.max(600, (long) shape.memories * shape.spaces / 200);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(limitS);
        int round = 0;
        while (loadedAt.size() < last.size()) {
            job.check();
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the job did not apply all memory events within " + limitS + " s");
            }
            for (Map.Entry<String, float[]> e : last.entrySet()) {
                String space = e.getKey();
                if (loadedAt.containsKey(space)) {
                    continue;
                }
                String pid = pending.get(space);
                Sent p = pid == null ? null : sent.get(pid);
                if (p != null && p.uncommittedNanos == 0) {
                    continue; // still waiting for this probe's answer
                }
                if (p != null && lastId.equals(p.top)) {
                    loadedAt.put(space, p.uncommittedNanos);
                    continue;
                }
                String id = "probe-" + space + "-" + (round++);
                pending.put(space, id);
                sendQuery(producer, topic, space, id, e.getValue(), Phase.PROBE, System.nanoTime(), lastId, null,
                        sent);
                producer.flush();
            }
            Thread.sleep(50);
        }
        return Collections.max(loadedAt.values());
    }

    private void sendQuery(KafkaProducer<byte[], byte[]> p, String topic, String space, String id, float[] cue,
                           Phase phase, long scheduledNanos, String expectTop, EventPosition after,
                           ConcurrentHashMap<String, Sent> sent) {
        RecallQuery q = RecallQuery.newBuilder()
                .setQueryId(id)
                .setSpace(space)
                .setTimestampMs(System.currentTimeMillis())
                .setCue(boxed(cue))
                .setK(phase == Phase.PROBE ? 1 : s.k)
                .setAfterPositions(after == null ? List.of() : List.of(after))
                .build();
        byte[] value = AvroCodec.encode(q);
        sent.put(id, new Sent(phase, scheduledNanos, expectTop));
        p.send(new ProducerRecord<>(topic, key(space), value), (md, ex) -> {
            if (ex != null) {
                LOG.error("sending query {} failed", id, ex);
            }
        });
    }

    private static void awaitAnswered(ConcurrentHashMap<String, Sent> sent, Duration timeout, JobProcess job)
            throws Exception {
        awaitAnswered(sent, timeout, job, null);
    }

    /** Waits until every query (of {@code phase}, or all when null) has a read_uncommitted answer, or the timeout. */
    private static void awaitAnswered(ConcurrentHashMap<String, Sent> sent, Duration timeout, JobProcess job,
                                      Phase phase) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            job.check();
            if (sent.values().stream().allMatch(x -> (phase != null && x.phase != phase) || x.uncommittedNanos != 0)) {
                return;
            }
            Thread.sleep(20);
        }
    }

    private static void awaitCommitted(ConcurrentHashMap<String, Sent> sent, Duration timeout, JobProcess job)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            job.check();
            if (sent.values().stream().allMatch(x -> x.committedNanos != 0)) {
                return;
            }
            Thread.sleep(100);
        }
    }

    static Map<String, Object> verify(ConcurrentHashMap<String, Sent> sent, long unknown, String mode,
                                      long deadLetters) {
        long queries = sent.size();
        long missingCommitted = 0;
        long duplicateCommitted = 0;
        long missingUncommitted = 0;
        long duplicateUncommitted = 0;
        long wrongMode = 0;
        for (Sent x : sent.values()) {
            int c = x.committed.get();
            int u = x.uncommitted.get();
            missingCommitted += c == 0 ? 1 : 0;
            duplicateCommitted += c > 1 ? 1 : 0;
            missingUncommitted += u == 0 ? 1 : 0;
            duplicateUncommitted += u > 1 ? 1 : 0;
            wrongMode += x.mode != null && !x.mode.equals(mode) ? 1 : 0;
        }
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("queries", queries);
        v.put("committed_exactly_once", queries - missingCommitted - duplicateCommitted);
        v.put("committed_missing", missingCommitted);
        v.put("committed_duplicates", duplicateCommitted);
        v.put("uncommitted_missing", missingUncommitted);
        v.put("uncommitted_duplicates", duplicateUncommitted);
        v.put("unknown_results", unknown);
        v.put("dead_letters", deadLetters);
        v.put("wrong_kernel_mode", wrongMode);
        v.put("ok", queries > 0 && missingCommitted == 0 && duplicateCommitted == 0 && unknown == 0
                && deadLetters == 0 && wrongMode == 0);
        return v;
    }

    static List<Double> latencies(ConcurrentHashMap<String, Sent> sent, Phase phase, boolean committed) {
        List<Double> out = new ArrayList<>();
        for (Sent x : sent.values()) {
            long t = committed ? x.committedNanos : x.uncommittedNanos;
            if (x.phase == phase && t != 0) {
                out.add((t - x.scheduledNanos) / 1e6);
            }
        }
        return out;
    }

    /** Per second of the open loop (by scheduled send time): count, p50, p99 and max latency (read_uncommitted). */
    static List<Map<String, Object>> timeline(ConcurrentHashMap<String, Sent> sent, long start, int seconds) {
        List<List<Double>> buckets = new ArrayList<>();
        for (int i = 0; i < seconds; i++) {
            buckets.add(new ArrayList<>());
        }
        for (Sent x : sent.values()) {
            if (x.phase == Phase.OPEN_LOOP && x.uncommittedNanos != 0) {
                int b = (int) ((x.scheduledNanos - start) / 1_000_000_000L);
                if (b >= 0 && b < seconds) {
                    buckets.get(b).add((x.uncommittedNanos - x.scheduledNanos) / 1e6);
                }
            }
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < seconds; i++) {
            Map<String, Object> p = percentiles(buckets.get(i));
            p.remove("p95");
            p.remove("p99_9");
            p.remove("mean");
            p.put("second", i);
            out.add(p);
        }
        return out;
    }

    static List<Double> compute(ConcurrentHashMap<String, Sent> sent, Phase phase) {
        List<Double> out = new ArrayList<>();
        for (Sent x : sent.values()) {
            if (x.phase == phase && x.uncommittedNanos != 0) {
                out.add(x.computeUs / 1e3);
            }
        }
        return out;
    }

    /** Nearest-rank percentiles; empty input gives count 0 and no percentiles. */
    static Map<String, Object> percentiles(List<Double> values) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", values.size());
        if (values.isEmpty()) {
            return m;
        }
        List<Double> v = new ArrayList<>(values);
        Collections.sort(v);
        for (double p : new double[] {50, 95, 99, 99.9}) {
            int rank = (int) Math.ceil(p / 100.0 * v.size());
            String name = p == 99.9 ? "p99_9" : "p" + (int) p;
            m.put(name, v.get(Math.max(0, Math.min(v.size() - 1, rank - 1))));
        }
        m.put("max", v.get(v.size() - 1));
        m.put("mean", v.stream().mapToDouble(Double::doubleValue).average().orElse(0));
        return m;
    }

    private static long countRecords(String bootstrap, String topic) {
        Properties p = consumerProps(bootstrap, false);
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            c.partitionsFor(topic).forEach(pi -> tps.add(new TopicPartition(topic, pi.partition())));
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            long n = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline) {
                boolean done = true;
                for (TopicPartition tp : tps) {
                    done &= c.position(tp) >= end.get(tp);
                }
                if (done) {
                    break;
                }
                n += c.poll(Duration.ofMillis(200)).count();
            }
            return n;
        }
    }

    // ------------------------------------------------------------------------------------------- helpers ----

    static byte[] key(String space) {
        return space.getBytes(StandardCharsets.UTF_8);
    }

    static float[] unitVector(Random rnd, int dim) {
        float[] v = new float[dim];
        double norm = 0;
        for (int i = 0; i < dim; i++) {
            v[i] = (float) rnd.nextGaussian();
            norm += v[i] * v[i];
        }
        float inv = (float) (1 / Math.sqrt(norm));
        for (int i = 0; i < dim; i++) {
            v[i] *= inv;
        }
        return v;
    }

    static List<Float> boxed(float[] v) {
        Float[] b = new Float[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = v[i];
        }
        return Arrays.asList(b);
    }

    static double sec(long nanos) {
        return nanos / 1e9;
    }

    static KafkaProducer<byte[], byte[]> producer(String bootstrap, int lingerMs, int batchBytes) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "engram-e2e-bench");
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        p.put("linger.ms", String.valueOf(lingerMs));
        p.put("batch.size", String.valueOf(batchBytes));
        p.put("buffer.memory", String.valueOf(64L << 20));
        p.put("compression.type", "none");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static Properties consumerProps(String bootstrap, boolean committed) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "engram-e2e-bench-" + (committed ? "committed" : "uncommitted"));
        p.put("isolation.level", committed ? "read_committed" : "read_uncommitted");
        p.put("enable.auto.commit", "false");
        p.put("fetch.max.wait.ms", "100");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        return p;
    }

    private static final String OPERATOR_METRIC = "flink_taskmanager_job_task_operator_engram_";
    private static final java.util.regex.Pattern FLUSH_LABEL = java.util.regex.Pattern.compile("[{,]flush=\"([^\"]*)\"");

    /**
     * The key a memory-operator metric of a Prometheus sample line ({@code NAME{LABELS} VALUE}) is summed under, or
     * null for lines the benchmark does not read: {@code cacheHits} etc. of {@code engram_state_*}, {@code recalls}
     * ({@code engram_mode_recalls}, every kernel mode) and {@code recallBatches.FLUSH} ({@code
     * engram_flush_recallBatches}, one per reason a batch was answered: size, delay, change, ...).
     */
    static String metricKey(String sample) {
        int end = sample.indexOf('{');
        String name = sample.substring(0, end >= 0 ? end : Math.max(0, sample.indexOf(' ')));
        if (!name.startsWith(OPERATOR_METRIC)) {
            return null;
        }
        String rest = name.substring(OPERATOR_METRIC.length());
        if (rest.startsWith("state_")) {
            return rest.substring("state_".length());
        }
        if (rest.equals("mode_recalls")) {
            return "recalls";
        }
        java.util.regex.Matcher flush = FLUSH_LABEL.matcher(sample);
        if (rest.equals("flush_recallBatches") && flush.find()) {
            return "recallBatches." + flush.group(1);
        }
        return null;
    }

    /**
     * How recall queries were batched between two readings of the operator's counters: queries answered, batches
     * (by why they were answered) and queries per batch; empty without both readings. A query answered on its own
     * (batching off, an empty space) counts as a recall without a batch.
     */
    static Map<String, Object> batching(Map<String, Double> before, Map<String, Double> after) {
        Map<String, Object> b = new LinkedHashMap<>();
        if (!before.containsKey("recalls") || !after.containsKey("recalls")) {
            return b;
        }
        double recalls = after.get("recalls") - before.get("recalls");
        double batches = 0;
        Map<String, Object> byFlush = new java.util.TreeMap<>();
        for (Map.Entry<String, Double> e : after.entrySet()) {
            if (e.getKey().startsWith("recallBatches.")) {
                double n = e.getValue() - before.getOrDefault(e.getKey(), 0.0);
                byFlush.put(e.getKey().substring("recallBatches.".length()), (long) n);
                batches += n;
            }
        }
        b.put("recalls", (long) recalls);
        b.put("batches", (long) batches);
        b.put("batches_by_flush", byFlush);
        b.put("queries_per_batch", batches > 0 ? recalls / batches : null);
        return b;
    }

    /** A CPU list as taskset -c takes it ("1", "0,2", "2-3"); anything else is a usage error. */
    static String cpuList(String v, String option) {
        if (!v.matches("[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*")) {
            throw new IllegalArgumentException(option + " takes a CPU list such as 1, 0,2 or 2-3, not '" + v + "'");
        }
        return v;
    }

    /** The CPUs a process may run on (Cpus_allowed_list of /proc/PID/status), or "unknown" off Linux. */
    static String cpusAllowed(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("Cpus_allowed_list:")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux, or the process is gone
        }
        return "unknown";
    }

    static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        String cpu = "unknown";
        String flags = "";
        int processors = 0; // the machine's, not this JVM's share: the driver may run under taskset (--driver-cpus)
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("processor")) {
                    processors++;
                }
                if (line.startsWith("model name") && cpu.equals("unknown")) {
                    cpu = line.substring(line.indexOf(':') + 1).trim();
                }
                if (line.startsWith("flags") && flags.isEmpty()) {
                    List<String> have = Arrays.asList(line.substring(line.indexOf(':') + 1).trim().split(" "));
                    List<String> f = new ArrayList<>();
                    for (String x : List.of("avx2", "fma", "avx512f")) {
                        if (have.contains(x)) {
                            f.add(x);
                        }
                    }
                    flags = String.join("+", f);
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        m.put("cpu", cpu);
        m.put("cpu_flags", flags);
        m.put("cores", processors > 0 ? processors : Runtime.getRuntime().availableProcessors());
        long memKb = 0;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    memKb = Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        m.put("memory_gib", Math.round(memKb / 1024.0 / 1024.0 * 10) / 10.0);
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        m.put("jdk", System.getProperty("java.vm.vendor") + " " + System.getProperty("java.runtime.version"));
        return m;
    }

    /** Total CPU time (user + system) of a process so far, seconds; NaN if the OS does not tell. */
    static double cpuSeconds(ProcessHandle p) {
        return p.info().totalCpuDuration().map(d -> d.toNanos() / 1e9).orElse(Double.NaN);
    }

    static String loadAverage() {
        try {
            String[] p = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return p[0] + " " + p[1] + " " + p[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static final long RESULT_FINGERPRINT = AvroCodec.fingerprint(RecallResult.getClassSchema());

    /**
     * The query_id of a RecallResult in single-object encoding (its first field: a zig-zag varint length and UTF-8
     * bytes after the 10-byte header), without decoding the rest; a full decode when the header is not the current
     * RecallResult schema's.
     */
    static String queryIdOf(byte[] v) throws Exception {
        boolean current = v.length > AvroCodec.HEADER_LENGTH && v[0] == AvroCodec.MARKER_0 && v[1] == AvroCodec.MARKER_1;
        for (int i = 0; current && i < 8; i++) {
            current = v[2 + i] == (byte) (RESULT_FINGERPRINT >>> (8 * i));
        }
        if (current) {
            int pos = AvroCodec.HEADER_LENGTH;
            long raw = 0;
            int shift = 0;
            while (pos < v.length && shift < 64) {
                int b = v[pos++] & 0xff;
                raw |= (long) (b & 0x7f) << shift;
                shift += 7;
                if ((b & 0x80) == 0) {
                    long len = (raw >>> 1) ^ -(raw & 1);
                    if (len >= 0 && pos + len <= v.length) {
                        return new String(v, pos, (int) len, StandardCharsets.UTF_8);
                    }
                    break;
                }
            }
        }
        return AvroCodec.decodeRecallResult(v).getQueryId();
    }

    // ---------------------------------------------------------------------------------------- components ----

    /** A consumer of the results topic (all partitions, from the beginning) that records when each result appears. */
    static final class ResultReader implements AutoCloseable {
        private final KafkaConsumer<byte[], byte[]> consumer;
        private final String topic;
        private final boolean committed;
        private final ConcurrentHashMap<String, Sent> sent;
        private final AtomicLong unknown;
        private final Semaphore window;
        private final Thread thread;
        private volatile boolean running = true;
        final ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();

        ResultReader(String bootstrap, String topic, boolean committed, ConcurrentHashMap<String, Sent> sent,
                     AtomicLong unknown, Semaphore window) {
            this.consumer = new KafkaConsumer<>(consumerProps(bootstrap, committed));
            this.topic = topic;
            this.committed = committed;
            this.sent = sent;
            this.unknown = unknown;
            this.window = window;
            this.thread = new Thread(this::loop, "e2e-results-" + (committed ? "committed" : "uncommitted"));
            this.thread.setDaemon(true);
        }

        void start() {
            List<TopicPartition> tps = new ArrayList<>();
            consumer.partitionsFor(topic).forEach(pi -> tps.add(new TopicPartition(topic, pi.partition())));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            thread.start();
        }

        private void loop() {
            try {
                while (running) {
                    ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(100));
                    long now = System.nanoTime();
                    for (ConsumerRecord<byte[], byte[]> rec : recs) {
                        if (committed) {
                            // Only the id is needed here: read it without decoding the hits (driver CPU is job CPU).
                            Sent x = sent.get(queryIdOf(rec.value()));
                            if (x == null) {
                                unknown.incrementAndGet();
                            } else if (x.committed.incrementAndGet() == 1) {
                                x.committedNanos = now;
                            }
                            continue;
                        }
                        RecallResult res = AvroCodec.decodeRecallResult(rec.value());
                        Sent x = sent.get(res.getQueryId());
                        if (x == null) {
                            unknown.incrementAndGet();
                            continue;
                        }
                        if (x.uncommitted.incrementAndGet() == 1) {
                            List<RecallHit> hits = res.getHits();
                            x.top = hits.isEmpty() ? null : hits.get(0).getMemoryId();
                            x.mode = res.getKernelMode();
                            x.computeUs = res.getLatencyUs();
                            x.stale = res.getStale();
                            if (x.phase == Phase.VERIFY) {
                                x.hits = List.copyOf(hits);
                            }
                            x.uncommittedNanos = now;
                            if (window != null && (x.phase == Phase.WARMUP || x.phase == Phase.SATURATION)) {
                                window.release();
                            }
                        }
                    }
                }
            } catch (org.apache.kafka.common.errors.WakeupException e) {
                // closing
            } catch (Throwable t) {
                errors.add(t);
                LOG.error("result reader failed", t);
            }
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            consumer.wakeup();
            thread.join(10_000);
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** The job: {@code engram run} in a child JVM (MiniCluster, real EngramJob), stopped with SIGTERM. */
    static final class JobProcess implements AutoCloseable {
        /** Jobs still running; a shutdown hook stops them if the driver is killed (e.g. by a CI timeout). */
        private static final java.util.Set<Process> RUNNING = ConcurrentHashMap.newKeySet();

        static {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                for (Process p : RUNNING) {
                    p.destroy();
                }
                for (Process p : RUNNING) {
                    try {
                        if (!p.waitFor(30, TimeUnit.SECONDS)) {
                            p.destroyForcibly();
                        }
                    } catch (InterruptedException e) {
                        p.destroyForcibly();
                    }
                }
            }, "e2e-stop-jobs"));
        }

        private final Process process;
        private final List<String> output = Collections.synchronizedList(new ArrayList<>());
        double startSeconds;
        private Integer exit;

        private JobProcess(Process process) {
            this.process = process;
        }

        /** The job JVM's command line: java with the TaskManagers' flags, under taskset when --job-cpus is set. */
        static List<String> command(Settings s, String bootstrap, Map<String, String> conf, Path log, String name) {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Path local = s.localDir.toAbsolutePath();
            List<String> cmd = new ArrayList<>();
            if (!s.jobCpus.isEmpty()) {
                cmd.addAll(List.of("taskset", "-c", s.jobCpus));
            }
            cmd.addAll(List.of(java, "@" + local.resolve("jvm.options"),
                    "-Xms" + s.jobHeap, "-Xmx" + s.jobHeap, "-Dlog.file=" + log.toAbsolutePath()));
            if (s.jfr) {
                // A flight recording of the whole run (profile settings: method samples every 10-20 ms, allocation,
                // locks, GC), for finding where the job's time goes: jfr print --events jdk.ExecutionSample FILE
                cmd.add("-XX:StartFlightRecording=filename=" + log.toAbsolutePath().getParent().resolve(
                        "job-" + name + ".jfr") + ",settings=profile,dumponexit=true");
            }
            cmd.addAll(TASKMANAGER_JAVA_OPTS);
            cmd.addAll(s.jobJavaOpts);
            cmd.addAll(List.of("-cp", local.resolve("lib") + "/*", "io.engram.job.cli.EngramCli", "run",
                    "--bootstrap-servers", bootstrap, "--parallelism", String.valueOf(s.parallelism),
                    "--job-heap", s.jobHeap)); // the -Xmx above; run checks and prints it
            conf.forEach((k, v) -> {
                cmd.add("-D");
                cmd.add(k + "=" + v);
            });
            return cmd;
        }

        static JobProcess start(Settings s, String bootstrap, Map<String, String> conf, Path log, String name)
                throws Exception {
            List<String> cmd = command(s, bootstrap, conf, log, name);
            LOG.info("starting the job: {}", cmd);
            long t0 = System.nanoTime();
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            JobProcess j = new JobProcess(pb.start());
            RUNNING.add(j.process);
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(j.process.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String line = r.readLine(); line != null; line = r.readLine()) {
                        j.output.add(line);
                        LOG.info("job: {}", line);
                    }
                } catch (IOException ignored) {
                    // process gone
                }
            }, "e2e-job-output");
            reader.setDaemon(true);
            reader.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            try {
                while (true) {
                    synchronized (j.output) {
                        if (j.output.stream().anyMatch(l -> l.startsWith("running (started"))) {
                            break;
                        }
                    }
                    if (!j.process.isAlive()) {
                        throw new IllegalStateException("the job exited with " + j.process.exitValue() + ": "
                                + j.tail());
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("the job did not start within 180 s: " + j.tail());
                    }
                    Thread.sleep(100);
                }
            } catch (Exception e) {
                j.close();
                throw e;
            }
            j.startSeconds = sec(System.nanoTime() - t0);
            System.out.printf(Locale.ROOT, "  job started in %.1f s (log %s)%n", j.startSeconds, log);
            return j;
        }

        double cpuSeconds() {
            return EndToEndBenchmark.cpuSeconds(process.toHandle());
        }

        long pid() {
            return process.pid();
        }

        /** A line of the job's output starting with {@code prefix}, without it, or null. */
        String field(String prefix) {
            synchronized (output) {
                for (String l : output) {
                    if (l.trim().startsWith(prefix)) {
                        return l.trim().substring(prefix.length()).trim();
                    }
                }
            }
            return null;
        }

        /**
         * The job's recent checkpoints from the REST API (Flink keeps the last 10): trigger time relative to
         * {@code originWallMs} in seconds, duration, size. Empty if the REST API does not answer.
         */
        List<Map<String, Object>> checkpoints(long originWallMs) {
            List<Map<String, Object>> out = new ArrayList<>();
            try {
                String web = field("web UI:");
                String job = field("job:");
                if (web == null || job == null) {
                    return out;
                }
                String url = web.split("\\s+")[0];
                String jobId = job.split("\\s+")[1].replace(",", "");
                String body = httpGet(url + (url.endsWith("/") ? "" : "/") + "jobs/" + jobId + "/checkpoints");
                com.fasterxml.jackson.databind.JsonNode history = new ObjectMapper().readTree(body).path("history");
                for (com.fasterxml.jackson.databind.JsonNode c : history) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("id", c.path("id").asLong());
                    m.put("status", c.path("status").asText());
                    m.put("trigger_s", (c.path("trigger_timestamp").asLong() - originWallMs) / 1000.0);
                    m.put("duration_ms", c.path("end_to_end_duration").asLong());
                    m.put("state_mb", c.path("state_size").asLong() / 1e6);
                    // What the checkpoint uploaded: with incremental RocksDB checkpoints, only the changed files.
                    m.put("checkpointed_mb", c.path("checkpointed_size").asLong() / 1e6);
                    out.add(0, m);
                }
            } catch (Exception e) {
                LOG.info("cannot read the job's checkpoints: {}", e.toString());
            }
            return out;
        }

        /**
         * The memory operator's state metrics ({@code engram.state.bytesWritten}, {@code cacheHits},
         * {@code cacheMisses}, {@code cacheBytes}) and recall counters ({@link #metricKey}), summed over its subtasks,
         * as the job's Prometheus endpoint reports them now (the REST API would answer with values it fetched at an
         * earlier request); empty if it does not answer.
         */
        Map<String, Double> stateMetrics() {
            Map<String, Double> out = new LinkedHashMap<>();
            String url = field("metrics:");
            if (url == null || !url.startsWith("http://")) {
                return out;
            }
            try {
                for (String line : httpGet(url).split("\n")) {
                    String key = line.startsWith("#") ? null : metricKey(line);
                    if (key != null) {
                        out.merge(key, Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)), Double::sum);
                    }
                }
            } catch (Exception e) {
                LOG.info("cannot read the job's metrics: {}", e.toString());
            }
            return out;
        }

        /** The job JVM's peak resident set (VmHWM), MB; null where /proc does not tell. */
        Double peakRssMb() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/" + process.pid() + "/status"))) {
                    if (line.startsWith("VmHWM:")) {
                        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                    }
                }
            } catch (IOException | RuntimeException ignored) {
                // not Linux, or gone
            }
            return null;
        }

        private static String httpGet(String url) throws Exception {
            java.net.HttpURLConnection c = (java.net.HttpURLConnection) java.net.URI.create(url).toURL()
                    .openConnection();
            c.setConnectTimeout(3000);
            c.setReadTimeout(10000);
            try (java.io.InputStream in = c.getInputStream()) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } finally {
                c.disconnect();
            }
        }

        String tail() {
            synchronized (output) {
                return String.join(" | ", output.subList(Math.max(0, output.size() - 8), output.size()));
            }
        }

        /** Fails when the job ended or reported a status change (restart-strategy none: any failure ends it). */
        void check() {
            if (!process.isAlive()) {
                throw new IllegalStateException("the job exited with " + process.exitValue() + ": " + tail());
            }
            synchronized (output) {
                for (String l : output) {
                    if (l.startsWith("job status:")) {
                        throw new IllegalStateException("the job changed status: " + l);
                    }
                }
            }
        }

        void stop() throws InterruptedException {
            if (process.isAlive()) {
                process.destroy(); // SIGTERM: engram run cancels the job and stops the cluster
                if (!process.waitFor(90, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(30, TimeUnit.SECONDS);
                }
            }
            exit = process.isAlive() ? null : process.exitValue();
            if (exit != null) {
                RUNNING.remove(process);
            }
        }

        Integer exitCode() {
            return exit;
        }

        @Override
        public void close() throws InterruptedException {
            stop();
        }
    }
}
