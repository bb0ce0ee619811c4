package io.engram.job.config;

import static org.apache.flink.configuration.ConfigOptions.key;

import java.time.Duration;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.connector.base.DeliveryGuarantee;

/**
 * Every engram-flink setting, as typed Flink options. Settable with {@code -D} on {@code flink run}, in the cluster's
 * config.yaml, or on the {@code engram} CLI. The table in docs/operations/configuration.md is generated from this
 * class ({@code ConfigDocs}), and a test fails when it is stale.
 */
public final class EngramOptions {
    private EngramOptions() {
    }

    /** Keys under this prefix are handed to every Kafka client, e.g. {@code engram.kafka.properties.sasl.mechanism}. */
    public static final String KAFKA_PROPERTIES_PREFIX = "engram.kafka.properties.";

    // ----- kernels -----------------------------------------------------------------------------------------------

    public static final ConfigOption<String> KERNEL_MODE = key("engram.kernels.mode")
            .stringType().defaultValue("auto")
            .withDescription("Kernel implementation: 'zig' (fail at start if the native library cannot load), "
                    + "'java', or 'auto' (zig if it loads, else java with one warning).");

    public static final ConfigOption<MemorySize> ARENA_SIZE = key("engram.kernels.arena.size")
            .memoryType().noDefaultValue()
            .withDescription("Native scratch arena per task slot (per subtask of the memory operator). Unset: "
                    + "ENGRAM_ARENA_SIZE (bytes) or 2 MiB. Reserved out of the slot's managed memory (the memory "
                    + "operator's share, next to RocksDB's).");

    public static final ConfigOption<String> ARENA_OVERFLOW = key("engram.kernels.arena.overflow")
            .stringType().noDefaultValue()
            .withDescription("When a call's scratch does not fit the arena: 'fallback' (serve it with Java), "
                    + "'fail' (dead-letter the record with reason ARENA_OVERFLOW), 'fail-task' (fail the task). "
                    + "Unset: ENGRAM_ARENA_OVERFLOW or 'fallback'.");

    public static final ConfigOption<String> LIBRARY_PATH = key("engram.kernels.library-path")
            .stringType().noDefaultValue()
            .withDescription("Load the native library from this file instead of the copy inside the job jar.");

    public static final ConfigOption<String> CPU_VARIANT = key("engram.kernels.cpu-variant")
            .stringType().noDefaultValue()
            .withDescription("Force a native build variant ('x86_64_v3' or 'baseline') instead of the one "
                    + "picked from the CPU's features.");

    public static final ConfigOption<Boolean> ARENA_BUDGET_CHECK = key("engram.kernels.arena.budget-check")
            .booleanType().defaultValue(true)
            .withDescription("Reserve each subtask's native arena out of the slot's managed memory (an OPERATOR "
                    + "consumer, weighted against RocksDB by taskmanager.memory.managed.consumer-weights) and fail the "
                    + "submission, or else the job without restarts, when it does not fit. false: the arenas are not "
                    + "accounted by Flink (budget them yourself, e.g. in taskmanager.memory.task.off-heap.size).");

    public static final ConfigOption<Double> SHADOW_SAMPLE_RATE = key("engram.kernels.shadow.sample-rate")
            .doubleType().defaultValue(0.001)
            .withDescription("Share of Zig kernel calls that are also run in Java and compared within the "
                    + "differential-test tolerances (the numerical divergence guard); 0 disables it.");

    public static final ConfigOption<Boolean> SHADOW_AUTO_FALLBACK = key("engram.kernels.shadow.auto-fallback")
            .booleanType().defaultValue(true)
            .withDescription("On a divergence, switch that subtask to the Java kernels at once (and keep counting).");

    public static final ConfigOption<Double> SHADOW_TEST_INJECT = key("engram.kernels.shadow.test-inject-divergence")
            .doubleType().defaultValue(0.0)
            .withDescription("TEST ONLY: adds this much to every Zig cosine score so drills and tests can prove the "
                    + "divergence guard fires. Never set it in production; the job logs a warning when it is set.");

    // ----- kafka -------------------------------------------------------------------------------------------------

    public static final ConfigOption<String> BOOTSTRAP_SERVERS = key("engram.kafka.bootstrap-servers")
            .stringType().defaultValue("127.0.0.1:9092")
            .withDescription("Kafka bootstrap servers for every source and sink.");

    public static final ConfigOption<String> GROUP_ID = key("engram.kafka.group-id")
            .stringType().defaultValue("engram-flink")
            .withDescription("Consumer group id of the sources (offsets are kept in Flink checkpoints).");

    public static final ConfigOption<String> TRANSACTIONAL_ID_PREFIX = key("engram.kafka.transactional-id-prefix")
            .stringType().defaultValue("engram")
            .withDescription("Prefix of the exactly-once sinks' transactional ids; unique per job on a cluster.");

    public static final ConfigOption<Duration> TRANSACTION_TIMEOUT = key("engram.kafka.transaction-timeout")
            .durationType().defaultValue(Duration.ofMinutes(10))
            .withDescription("transaction.timeout.ms of the exactly-once sinks; at most the broker's "
                    + "transaction.max.timeout.ms and longer than the checkpoint interval.");

    public static final ConfigOption<DeliveryGuarantee> DELIVERY_GUARANTEE = key("engram.kafka.delivery-guarantee")
            .enumType(DeliveryGuarantee.class).defaultValue(DeliveryGuarantee.EXACTLY_ONCE)
            .withDescription("How the results and dead-letter sinks write. 'exactly-once': in Kafka transactions "
                    + "committed by each checkpoint; read_committed consumers see a result up to one checkpoint "
                    + "interval later, and every checkpoint blocks the operator's thread for the transaction round "
                    + "trips (docs/operations/sizing.md#latency-and-the-sink). 'at-least-once': no transactions; a "
                    + "result is visible as soon as it is written, and after a restore the results since the last "
                    + "checkpoint are written again (deduplicate by query_id). Switch it only at a stop with a "
                    + "savepoint. 'none' is refused: it may lose results.");

    public static final ConfigOption<Boolean> SINK_CHAINING = key("engram.kafka.sink-chaining")
            .booleanType().defaultValue(true)
            .withDescription("Whether the results and dead-letter sinks run in the memory-spaces operator's thread "
                    + "(true) or in threads of their own (false). Chained, a sink's wait for the broker at a "
                    + "checkpoint (exactly-once: a new transaction, then the commit) stops the recalls too; "
                    + "unchained, recalls go on and their results wait in Flink's network buffers for the sink. "
                    + "Changes no state: it may be switched at any restart "
                    + "(docs/operations/sizing.md#latency-and-the-sink).");

    public static final ConfigOption<String> TOPIC_MEMORY_EVENTS = key("engram.topics.memory-events")
            .stringType().defaultValue("engram.memory-events")
            .withDescription("Topic of MemoryEvent records (Avro single-object encoding, key = space).");

    public static final ConfigOption<String> TOPIC_RECALL_QUERIES = key("engram.topics.recall-queries")
            .stringType().defaultValue("engram.recall-queries")
            .withDescription("Topic of RecallQuery records (key = space).");

    public static final ConfigOption<String> TOPIC_RECALL_RESULTS = key("engram.topics.recall-results")
            .stringType().defaultValue("engram.recall-results")
            .withDescription("Topic the RecallResult records are written to, in Kafka transactions by default "
                    + "(engram.kafka.delivery-guarantee); read it with isolation.level=read_committed.");

    public static final ConfigOption<String> TOPIC_DEAD_LETTERS = key("engram.topics.dead-letters")
            .stringType().defaultValue("engram.dead-letters")
            .withDescription("Topic of DeadLetter records: every input that could not be applied, with a reason.");

    public static final ConfigOption<String> TOPIC_CONTROL = key("engram.topics.control")
            .stringType().defaultValue("engram.control")
            .withDescription("Topic of KernelControl records (runtime kernel switch), broadcast to every subtask.");

    public static final ConfigOption<String> STARTING_OFFSETS = key("engram.kafka.starting-offsets")
            .stringType().defaultValue("earliest")
            .withDescription("Where sources start without a checkpoint: 'earliest', 'latest' or 'committed' "
                    + "(committed group offsets, earliest if none).");

    public static final ConfigOption<Duration> MAX_OUT_OF_ORDERNESS = key("engram.watermark.max-out-of-orderness")
            .durationType().defaultValue(Duration.ofSeconds(5))
            .withDescription("Bounded out-of-orderness of event time; decay sweeps fire when the watermark passes.");

    public static final ConfigOption<Duration> IDLENESS = key("engram.watermark.idleness")
            .durationType().defaultValue(Duration.ofSeconds(30))
            .withDescription("A source partition without records for this long stops holding back the watermark.");

    // ----- memory model ------------------------------------------------------------------------------------------

    public static final ConfigOption<Duration> DEFAULT_STABILITY = key("engram.memory.default-stability")
            .durationType().defaultValue(Duration.ofDays(1))
            .withDescription("Stability of a stored memory that gives none: the e-folding time of its retention.");

    public static final ConfigOption<Double> REINFORCE_FACTOR = key("engram.memory.reinforce-factor")
            .doubleType().defaultValue(2.0)
            .withDescription("Spacing effect: a reinforced memory's stability is multiplied by this (>= 1).");

    public static final ConfigOption<Duration> MAX_STABILITY = key("engram.memory.max-stability")
            .durationType().defaultValue(Duration.ofDays(3650))
            .withDescription("Cap on a memory's stability, on store and after reinforcement.");

    public static final ConfigOption<Duration> DEDUP_WINDOW = key("engram.memory.dedup-window")
            .durationType().defaultValue(Duration.ofHours(24))
            .withDescription("How long (event time) an applied event_id is remembered; a replay within it changes "
                    + "nothing.");

    // ----- decay -------------------------------------------------------------------------------------------------

    public static final ConfigOption<Duration> SWEEP_INTERVAL = key("engram.decay.sweep-interval")
            .durationType().defaultValue(Duration.ofMinutes(1))
            .withDescription("Event-time interval of each space's decay sweep.");

    public static final ConfigOption<Double> FORGET_THRESHOLD = key("engram.decay.forget-threshold")
            .doubleType().defaultValue(0.01)
            .withDescription("A sweep removes memories whose retention is below this, with their edges; 0 keeps all.");

    // ----- recall ------------------------------------------------------------------------------------------------

    public static final ConfigOption<Integer> MAX_HOPS = key("engram.recall.max-hops")
            .intType().defaultValue(3)
            .withDescription("Default spreading depth when a query gives none.");

    public static final ConfigOption<Double> HOP_DECAY = key("engram.recall.hop-decay")
            .doubleType().defaultValue(0.8)
            .withDescription("Default per-hop activation factor, in (0, 1].");

    public static final ConfigOption<Double> THRESHOLD = key("engram.recall.threshold")
            .doubleType().defaultValue(0.01)
            .withDescription("Default minimum contribution that spreads further, >= 0.");

    public static final ConfigOption<Integer> SEED_K = key("engram.recall.seed-k")
            .intType().defaultValue(16)
            .withDescription("Default number of most similar memories that seed the spreading.");

    public static final ConfigOption<Integer> BATCH_MAX_SIZE = key("engram.recall.batch.max-size")
            .intType().defaultValue(8)
            .withDescription("Most recall queries of one space answered together by one pass of the batched "
                    + "similarity kernel (>= 1; 1 turns batching off: every query is answered on arrival). A batch "
                    + "is also answered when its first query has waited engram.recall.batch.max-delay, and before "
                    + "any change to the space, so answers equal one-at-a-time recall.");

    public static final ConfigOption<Duration> BATCH_MAX_DELAY = key("engram.recall.batch.max-delay")
            .durationType().defaultValue(Duration.ofMillis(5))
            .withDescription("Longest a recall query waits (processing time) for more queries of its space before "
                    + "its batch is answered (>= 0; 0 answers every query on arrival). Adds at most this much to a "
                    + "query's latency, plus the time of one batch.");

    // ----- state -------------------------------------------------------------------------------------------------

    public static final ConfigOption<Integer> STATE_CHUNK_SIZE = key("engram.state.chunk-size")
            .intType().defaultValue(64)
            .withDescription("Memories per state chunk, for spaces created from now on (a space keeps the chunk size "
                    + "it was created with). A store, reinforce, associate or forget reads and writes the chunks of "
                    + "the memories it touches: smaller chunks write fewer bytes per event (RocksDB), larger ones "
                    + "mean fewer entries per recall. 1 to 65536; see docs/operations/sizing.md for the measurements "
                    + "behind the default.");

    public static final ConfigOption<MemorySize> STATE_CACHE_SIZE = key("engram.state.cache-size")
            .memoryType().defaultValue(MemorySize.parse("128mb"))
            .withDescription("Per subtask: decoded state chunks kept in the task's heap, least recently used out. "
                    + "On RocksDB it is what makes a recall of a space whose chunks are cached run at heap-backend "
                    + "speed (RocksDB hands out a freshly deserialized copy on every read); on the heap backend it "
                    + "holds the state's own objects and costs only its map. 0 turns it off.");

    public static final ConfigOption<Integer> STATE_SNAPSHOT_THREAD_PRIORITY =
            key("engram.state.snapshot-thread-priority")
            .intType().defaultValue(Thread.MIN_PRIORITY)
            .withDescription("Java priority (1 to 10) of the threads that write the heap backend's checkpoints "
                    + "(Flink's AsyncOperations pool, which runs the state serializers): 1, the default, lets a "
                    + "checkpoint take the cores the recalls leave idle rather than time from the recalls, which "
                    + "lowers the latency tail at each checkpoint and lengthens the checkpoint when the cores are "
                    + "busy. It becomes an OS priority only where the TaskManager JVM maps Java priorities: on Linux "
                    + "-XX:ThreadPriorityPolicy=1 -XX:JavaPriority1_To_OSPriority=10 (nice 10; "
                    + "deploy/flink/config.yaml sets them); without them it changes nothing. 5 leaves the threads as "
                    + "they are. No effect on RocksDB's checkpoints. Changes no state "
                    + "(docs/operations/sizing.md#latency-and-the-sink).");

    // ----- consistency -------------------------------------------------------------------------------------------

    public static final ConfigOption<String> RECALL_CONSISTENCY = key("engram.recall.consistency")
            .stringType().defaultValue("arrival")
            .withDescription("What state a recall query is answered from. 'arrival' (default): the space's state when "
                    + "the query reaches the operator, the lowest latency. 'event-time': exactly the events of its "
                    + "space stamped at or before the query's timestamp, once the watermark of both input topics has "
                    + "passed it; memory events wait for the watermark too and are applied in timestamp order, so "
                    + "answers are a function of the input alone (any interleaving, parallelism, replay). Costs "
                    + "about engram.watermark.max-out-of-orderness of latency. See docs/internal/recall_contract.md.");

    public static final ConfigOption<Duration> WAIT_TIMEOUT = key("engram.recall.wait.timeout")
            .durationType().defaultValue(Duration.ofSeconds(10))
            .withDescription("Longest a query that names writes it must see (after_event_ids, after_positions) "
                    + "waits for them (processing time); then engram.recall.wait.on-timeout applies. In event-time "
                    + "mode also the longest any record waits for a watermark that does not come (all input "
                    + "partitions idle).");

    public static final ConfigOption<String> WAIT_ON_TIMEOUT = key("engram.recall.wait.on-timeout")
            .stringType().defaultValue("answer-stale")
            .withDescription("When a read-your-writes wait times out: 'answer-stale' answers from the state at that "
                    + "moment with RecallResult.stale true; 'dead-letter' dead-letters the query (WAIT_TIMEOUT). A "
                    + "query's own on_timeout overrides it.");

    // ----- limits ------------------------------------------------------------------------------------------------

    public static final ConfigOption<Integer> MAX_DIM = key("engram.limits.max-dim")
            .intType().defaultValue(4096)
            .withDescription("Largest accepted embedding/cue dimension; larger ones are dead-lettered (DIM_TOO_LARGE).");

    public static final ConfigOption<Integer> MAX_K = key("engram.limits.max-k")
            .intType().defaultValue(1000)
            .withDescription("Largest accepted k of a query.");

    public static final ConfigOption<Integer> MAX_QUERY_HOPS = key("engram.limits.max-hops")
            .intType().defaultValue(16)
            .withDescription("Largest accepted max_hops of a query.");

    public static final ConfigOption<Integer> MAX_SEED_K = key("engram.limits.max-seed-k")
            .intType().defaultValue(1000)
            .withDescription("Largest accepted seed_k of a query.");

    public static final ConfigOption<Integer> MAX_MEMORIES_PER_SPACE = key("engram.limits.max-memories-per-space")
            .intType().defaultValue(1_000_000)
            .withDescription("A store that would grow a space beyond this is dead-lettered (SPACE_FULL).");

    public static final ConfigOption<Integer> MAX_ID_LENGTH = key("engram.limits.max-id-length")
            .intType().defaultValue(256)
            .withDescription("Longest accepted event, memory or query id, in characters.");

    public static final ConfigOption<Integer> MAX_CONTENT_LENGTH = key("engram.limits.max-content-length")
            .intType().defaultValue(65536)
            .withDescription("Longest accepted memory content, in characters.");

    public static final ConfigOption<Integer> MAX_WAITING_PER_SPACE = key("engram.limits.max-waiting-per-space")
            .intType().defaultValue(10_000)
            .withDescription("Records one space may hold waiting: queries waiting for their writes, and in "
                    + "event-time mode events and queries waiting for the watermark. One more is dead-lettered "
                    + "(TOO_MANY_WAITING), so neither state nor timers grow without bound.");

    public static final ConfigOption<Duration> MAX_FUTURE_SKEW = key("engram.limits.max-future-skew")
            .durationType().defaultValue(Duration.ofHours(1))
            .withDescription("Records stamped further than this ahead of the wall clock are dead-lettered "
                    + "(FUTURE_TIMESTAMP): they would drag the watermark and fire every decay timer early. Applies "
                    + "to kernel-control records too, so a far-future switch cannot stay in force.");

    public static final ConfigOption<Duration> MAX_PAST_AGE = key("engram.limits.max-past-age")
            .durationType().defaultValue(Duration.ofDays(3650))
            .withDescription("Records stamped further than this behind the wall clock are dead-lettered "
                    + "(PAST_TIMESTAMP), kernel-control records included. The default rejects epoch-zero and "
                    + "seconds-instead-of-milliseconds timestamps; raise it to replay older history.");

    public static final ConfigOption<MemorySize> MAX_OUTPUT_RECORD_SIZE = key("engram.limits.max-output-record-size")
            .memoryType().defaultValue(MemorySize.parse("512kb"))
            .withDescription("Largest Kafka record the job writes (key + value + Kafka's framing). A dead letter "
                    + "keeps the whole input when it fits, else a prefix with the full sizes and SHA-256 digests; a "
                    + "recall result is cut to fit (content shortened or left out, then the lowest-ranked hits) and "
                    + "says so (RecallResult.truncated). Checked at submission "
                    + "against the sinks' max.request.size and buffer.memory and the output topics' "
                    + "max.message.bytes (compressed outputs get 1/6 headroom). At least 16 kb.");
}
