package io.engram.job.monitoring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.cfg.MapperConfig;
import com.fasterxml.jackson.databind.introspect.Annotated;
import com.fasterxml.jackson.databind.introspect.JacksonAnnotationIntrospector;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.operator.MemorySpacesOperator;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.HighAvailabilityOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.kubernetes.operator.api.FlinkDeployment;
import org.apache.flink.kubernetes.operator.api.spec.FlinkDeploymentSpec;
import org.apache.flink.kubernetes.operator.api.spec.FlinkVersion;
import org.apache.flink.kubernetes.operator.api.spec.JobSpec;
import org.apache.flink.kubernetes.operator.api.spec.JobState;
import org.apache.flink.kubernetes.operator.api.spec.UpgradeMode;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessUtils;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Validates deploy/k8s/*.yaml against the Flink Kubernetes Operator's own model and against Flink itself:
 * <ul>
 *   <li>binds each manifest to {@link FlinkDeployment} (flink-kubernetes-operator-api) with unknown properties
 *       (despite the model's own {@code @JsonIgnoreProperties(ignoreUnknown = true)}), duplicate keys and scalar
 *       coercions (e.g. a number where the CRD wants a string) rejected, and with no field swallowed by a fabric8
 *       {@code additionalProperties} map (podTemplate typos);</li>
 *   <li>checks every flinkConfiguration key against Flink's and engram's ConfigOptions and parses every value with
 *       the option's type; derives the TaskManager memory spec with Flink's own TaskExecutorProcessUtils and checks
 *       the native arena budget (the arena within the memory operator's share of a slot's managed memory);</li>
 *   <li>asserts the contract of the rollback procedure: upgradeMode savepoint, engram.kernels.mode present, savepoint
 *       directory, jarURI/entryClass of the real job class, Prometheus reporter, flinkVersion of the Flink on the
 *       classpath;</li>
 *   <li>and that each of these checks really rejects a broken copy of the manifest.</li>
 * </ul>
 *
 * <p>Operator API version: 1.10.0, the newest on Maven Central from here. Its FlinkVersion enum ends at v1_20
 * (v2_0 came with operator 1.11, v2_1 with 1.13), so a v2_x flinkVersion is checked against the Flink version on
 * the classpath and a list of the newer operators' values instead of the 1.10 enum; everything else is bound
 * strictly. With a newer operator-api on the classpath the enum check applies by itself.
 */
class K8sManifestsTest {
    static final String MAIN = "engram-flinkdeployment.yaml";
    static final String CANARY = "engram-canary-flinkdeployment.yaml";
    static final String JAR_URI = "local:///opt/flink/usrlib/engram-job.jar";
    /** flinkVersion values of operator releases newer than the operator-api on the classpath. */
    static final Set<String> NEWER_OPERATOR_FLINK_VERSIONS = Set.of("v2_0", "v2_1", "v2_2");

    /** YAML with duplicate keys rejected (a repeated flinkConfiguration key would otherwise silently win). */
    private static final YAMLMapper YAML = YAMLMapper.builder(YAMLFactory.builder().build())
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();
    private static final ObjectMapper STRICT = strictMapper();

    private static ObjectMapper strictMapper() {
        ObjectMapper m = new ObjectMapper();
        // The operator's spec classes carry @JsonIgnoreProperties(ignoreUnknown = true), which beats
        // FAIL_ON_UNKNOWN_PROPERTIES: without this a misspelled `upgradMode:` would be dropped silently (as the API
        // server's pruning would drop it) and the job would run with the default upgrade mode, stateless.
        m.setAnnotationIntrospector(new JacksonAnnotationIntrospector() {
            private static final long serialVersionUID = 1L;

            @Override
            public JsonIgnoreProperties.Value findPropertyIgnoralByName(MapperConfig<?> config, Annotated a) {
                return super.findPropertyIgnoralByName(config, a).withoutIgnoreUnknown();
            }
        });
        m.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        m.enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
        m.enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);
        m.enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS);
        // The CRD types flinkConfiguration values (and other string fields) as strings; the API server rejects
        // `taskmanager.numberOfTaskSlots: 2` unquoted, so the test must not let Jackson coerce it.
        m.coercionConfigFor(LogicalType.Textual)
                .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
        return m;
    }

    static Path manifest(String name) {
        return MonitoringArtifacts.repoRoot().resolve("deploy/k8s").resolve(name);
    }

    static String read(String name) throws IOException {
        return Files.readString(manifest(name), StandardCharsets.UTF_8);
    }

    // ----- the checks --------------------------------------------------------------------------------------------

    /** Binds the manifest to the operator's model; fails on anything the model does not know. */
    static FlinkDeployment bind(String yaml) throws IOException {
        JsonNode tree = YAML.readTree(yaml);
        assertThat(tree.path("apiVersion").asText()).isEqualTo("flink.apache.org/v1beta1");
        assertThat(tree.path("kind").asText()).isEqualTo("FlinkDeployment");
        JsonNode spec = tree.path("spec");
        String flinkVersion = spec.path("flinkVersion").asText(null);
        assertThat(flinkVersion).as("spec.flinkVersion").isNotNull();
        if (!modelKnows(flinkVersion)) {
            assertThat(NEWER_OPERATOR_FLINK_VERSIONS).as("spec.flinkVersion").contains(flinkVersion);
            ((ObjectNode) spec).remove("flinkVersion");
        }
        FlinkDeployment d = STRICT.treeToValue(tree, FlinkDeployment.class);
        List<String> swallowed = new ArrayList<>();
        collectAdditionalProperties(d, "", swallowed, new IdentityHashMap<>());
        if (!swallowed.isEmpty()) {
            throw new IllegalArgumentException("fields the model does not know (kept as additionalProperties): "
                    + swallowed);
        }
        return d;
    }

    static boolean modelKnows(String flinkVersion) {
        return Arrays.stream(FlinkVersion.values()).anyMatch(v -> v.name().equals(flinkVersion));
    }

    /** The flinkVersion the manifests must carry: v{major}_{minor} of the Flink this build runs against. */
    static String expectedFlinkVersion() {
        String[] v = EnvironmentInformation.getVersion().split("\\.");
        return "v" + v[0] + "_" + v[1];
    }

    /** Checks the flinkConfiguration against Flink's and engram's options and Flink's memory model. */
    static void checkFlinkConfiguration(FlinkDeployment d) {
        Map<String, String> conf = d.getSpec().getFlinkConfiguration();
        assertThat(conf).as("flinkConfiguration").isNotEmpty();
        Map<String, ConfigOption<?>> known = knownOptions();
        Configuration c = Configuration.fromMap(conf);
        List<String> unknown = new ArrayList<>();
        for (String key : new TreeSet<>(conf.keySet())) {
            if (key.startsWith("kubernetes.")) {
                continue; // operator and flink-kubernetes options: not on this classpath
            }
            if (key.startsWith(EngramOptions.KAFKA_PROPERTIES_PREFIX)) {
                continue; // passed through to the Kafka clients
            }
            if (key.matches("metrics\\.reporter\\.[A-Za-z0-9_-]+\\..+")) {
                continue; // reporter-specific keys (factory.class, port, ...); the factory class is loaded below
            }
            ConfigOption<?> option = known.get(key);
            if (option == null) {
                unknown.add(key);
                continue;
            }
            try {
                c.get(option); // parses with the option's type
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("flinkConfiguration " + key + ": '" + conf.get(key)
                        + "' is not a valid " + option.key() + ": " + e.getMessage(), e);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("flinkConfiguration keys that are no Flink 2.2 / engram option "
                    + "(misspelled, or removed in Flink 2.x): " + unknown);
        }
        for (Map.Entry<String, String> e : conf.entrySet()) {
            if (e.getKey().matches("metrics\\.reporter\\.[^.]+\\.factory\\.class")) {
                try {
                    Class.forName(e.getValue());
                } catch (ClassNotFoundException ex) {
                    throw new IllegalArgumentException(e.getKey() + ": no class " + e.getValue(), ex);
                }
            }
        }

        // Memory: what Flink derives for a TaskManager of spec.taskManager.resource.memory, and the arena budget
        // the job checks at submission (MemorySpacesOperator.create, with the TaskManager configuration).
        Configuration tm = new Configuration(c);
        tm.set(TaskManagerOptions.TOTAL_PROCESS_MEMORY, MemorySize.parse(d.getSpec().getTaskManager().getResource()
                .getMemory()));
        TaskExecutorProcessUtils.processSpecFromConfig(tm);
        MemorySpacesOperator.create(new EngramSettings(tm), tm);
    }

    /** The promises deploy/k8s/README.md makes about every manifest. */
    static void checkRollbackContract(FlinkDeployment d) {
        FlinkDeploymentSpec spec = d.getSpec();
        JobSpec job = spec.getJob();
        assertThat(job).as("spec.job (application mode)").isNotNull();
        assertThat(job.getUpgradeMode()).as("spec.job.upgradeMode").isEqualTo(UpgradeMode.SAVEPOINT);
        assertThat(job.getState()).as("spec.job.state").isEqualTo(JobState.RUNNING);
        assertThat(job.getJarURI()).as("spec.job.jarURI").isEqualTo(JAR_URI);
        assertThat(job.getEntryClass()).as("spec.job.entryClass").isEqualTo(io.engram.job.EngramJob.class.getName());
        assertThat(job.getParallelism()).as("spec.job.parallelism").isPositive();
        assertThat(job.getAllowNonRestoredState()).as("spec.job.allowNonRestoredState").isFalse();
        assertThat(spec.getImage()).as("spec.image").isNotBlank();
        Map<String, String> conf = spec.getFlinkConfiguration();
        assertThat(conf).as("the rollback switch").containsKey(EngramOptions.KERNEL_MODE.key());
        assertThat(conf.get(EngramOptions.KERNEL_MODE.key())).isIn("zig", "java");
        assertThat(conf).as("savepoint upgrades need a savepoint directory")
                .containsKey(CheckpointingOptions.SAVEPOINT_DIRECTORY.key())
                .containsKey(CheckpointingOptions.CHECKPOINTS_DIRECTORY.key())
                .containsKey(CheckpointingOptions.CHECKPOINTING_INTERVAL.key())
                .containsKey(StateBackendOptions.STATE_BACKEND.key())
                .containsKey(HighAvailabilityOptions.HA_MODE.key());
        assertThat(conf.get("metrics.reporter.prom.factory.class"))
                .isEqualTo("org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
        assertThat(conf).containsEntry(MetricOptions.REPORTERS_LIST.key(), "prom");
        // The operator's auto-rollback would restore the last stable spec (zig) during an emergency switch to java.
        assertThat(conf.getOrDefault("kubernetes.operator.deployment.rollback.enabled", "false"))
                .as("kubernetes.operator.deployment.rollback.enabled").isEqualTo("false");
    }

    static FlinkDeployment validate(String yaml) throws IOException {
        FlinkDeployment d = bind(yaml);
        checkFlinkConfiguration(d);
        checkRollbackContract(d);
        return d;
    }

    // ----- the manifests -----------------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {MAIN, CANARY})
    void manifestIsAValidFlinkDeploymentForTheOperator(String name) throws Exception {
        FlinkDeployment d = validate(read(name));
        assertThat(d.getMetadata().getName()).isNotBlank();
        assertThat(d.getMetadata().getNamespace()).isNotBlank();
        assertThat(YAML.readTree(read(name)).path("spec").path("flinkVersion").asText())
                .as("flinkVersion of %s must match the Flink on the classpath (%s)", name,
                        EnvironmentInformation.getVersion())
                .isEqualTo(expectedFlinkVersion());
        assertThat(d.getSpec().getFlinkConfiguration()).containsEntry("engram.kernels.mode", "zig");
    }

    @Test
    void canaryShadowsProductionWithoutTouchingItsOutputs() throws Exception {
        Configuration prod = Configuration.fromMap(validate(read(MAIN)).getSpec().getFlinkConfiguration());
        FlinkDeployment canaryDeployment = validate(read(CANARY));
        Configuration canary = Configuration.fromMap(canaryDeployment.getSpec().getFlinkConfiguration());
        assertThat(canaryDeployment.getMetadata().getName()).isNotEqualTo(validate(read(MAIN)).getMetadata().getName());
        // Same inputs ...
        for (ConfigOption<String> in : List.of(EngramOptions.TOPIC_MEMORY_EVENTS, EngramOptions.TOPIC_RECALL_QUERIES,
                EngramOptions.BOOTSTRAP_SERVERS)) {
            assertThat(canary.get(in)).as(in.key()).isEqualTo(prod.get(in));
        }
        // ... everything it writes or owns is its own.
        for (ConfigOption<String> own : List.of(EngramOptions.TOPIC_RECALL_RESULTS, EngramOptions.TOPIC_DEAD_LETTERS,
                EngramOptions.TOPIC_CONTROL, EngramOptions.GROUP_ID, EngramOptions.TRANSACTIONAL_ID_PREFIX,
                CheckpointingOptions.CHECKPOINTS_DIRECTORY, CheckpointingOptions.SAVEPOINT_DIRECTORY,
                HighAvailabilityOptions.HA_STORAGE_PATH)) {
            assertThat(canary.get(own)).as(own.key()).isNotEqualTo(prod.get(own));
        }
        assertThat(canaryDeployment.getSpec().getJob().getParallelism())
                .isLessThanOrEqualTo(validate(read(MAIN)).getSpec().getJob().getParallelism());
    }

    // ----- the checks reject broken copies -----------------------------------------------------------------------

    private static void assertRejected(UnaryOperator<String> breakIt, String expectedMessagePart) throws Exception {
        String original = read(MAIN);
        String broken = breakIt.apply(original);
        assertThat(broken).as("the mutation must change the manifest").isNotEqualTo(original);
        assertThatThrownBy(() -> validate(broken)).hasMessageContaining(expectedMessagePart);
    }

    @Test
    void misspelledSpecFieldIsRejected() throws Exception {
        assertRejected(s -> s.replace("    upgradeMode: savepoint", "    upgradMode: savepoint"), "upgradMode");
        assertRejected(s -> s.replace("  flinkConfiguration:", "  flinkConfig:"), "flinkConfig");
        assertRejected(s -> s.replace("    jarURI:", "    jarUri:"), "jarUri");
    }

    @Test
    void misspelledPodTemplateFieldIsRejected() throws Exception {
        assertRejected(s -> s.replace("              containerPort: 9249", "              containerport: 9249"),
                "containerport");
    }

    @Test
    void invalidEnumValuesAreRejected() throws Exception {
        assertRejected(s -> s.replace("upgradeMode: savepoint", "upgradeMode: savepoints"), "savepoints");
        assertRejected(s -> s.replace("    state: running", "    state: started"), "started");
        assertRejected(s -> s.replace("flinkVersion: v2_2", "flinkVersion: v2_9"), "v2_9");
    }

    @Test
    void otherUpgradeModesBreakTheRollbackContract() throws Exception {
        assertRejected(s -> s.replace("upgradeMode: savepoint", "upgradeMode: stateless"), "upgradeMode");
        assertRejected(s -> s.replace("    engram.kernels.mode: \"zig\"\n", ""), "rollback switch");
    }

    @Test
    void unquotedNonStringConfigurationValueIsRejected() throws Exception {
        // The CRD declares flinkConfiguration values as strings: the API server would refuse this manifest.
        assertRejected(s -> s.replace("taskmanager.numberOfTaskSlots: \"2\"", "taskmanager.numberOfTaskSlots: 2"),
                "String");
    }

    @Test
    void duplicateConfigurationKeyIsRejected() throws Exception {
        assertRejected(s -> s.replace("    engram.kernels.mode: \"zig\"\n",
                "    engram.kernels.mode: \"zig\"\n    engram.kernels.mode: \"java\"\n"), "Duplicate");
    }

    @Test
    void unknownOrRemovedFlinkKeysAreRejected() throws Exception {
        assertRejected(s -> s.replace("taskmanager.memory.managed.fraction:", "taskmanager.memory.managed.fractoin:"),
                "taskmanager.memory.managed.fractoin");
        // Flink 1.x name of the savepoint directory, removed in Flink 2.0.
        assertRejected(s -> s.replace("execution.checkpointing.savepoint-dir:", "state.savepoints.dir:"),
                "state.savepoints.dir");
        assertRejected(s -> s.replace("engram.kernels.arena.size:", "engram.kernels.arena-size:"),
                "engram.kernels.arena-size");
    }

    @Test
    void unparsableValuesAreRejected() throws Exception {
        assertRejected(s -> s.replace("execution.checkpointing.interval: \"10 s\"",
                "execution.checkpointing.interval: \"ten seconds\""), "execution.checkpointing.interval");
        assertRejected(s -> s.replace("engram.kernels.arena.size: \"2 mb\"", "engram.kernels.arena.size: \"2 megs\""),
                "engram.kernels.arena.size");
    }

    @Test
    void arenasThatDoNotFitManagedMemoryAreRejected() throws Exception {
        assertRejected(s -> s.replace("engram.kernels.arena.size: \"2 mb\"", "engram.kernels.arena.size: \"512 mb\""),
                "does not fit the memory operator's share of managed memory");
    }

    @Test
    void memoryThatDoesNotFitTheTaskManagerIsRejected() throws Exception {
        assertRejected(s -> s.replace("taskmanager.memory.managed.fraction: \"0.4\"",
                "taskmanager.memory.managed.size: \"8g\""), "Memory");
    }

    // ----- helpers -----------------------------------------------------------------------------------------------

    /** Every ConfigOption of Flink 2.2's public option classes and of engram, by key. */
    static Map<String, ConfigOption<?>> knownOptions() {
        Map<String, ConfigOption<?>> out = new LinkedHashMap<>();
        String[] classes = {
            "org.apache.flink.configuration.CheckpointingOptions",
            "org.apache.flink.configuration.StateBackendOptions",
            "org.apache.flink.configuration.StateRecoveryOptions",
            "org.apache.flink.configuration.StateChangelogOptions",
            "org.apache.flink.configuration.TaskManagerOptions",
            "org.apache.flink.configuration.JobManagerOptions",
            "org.apache.flink.configuration.HighAvailabilityOptions",
            "org.apache.flink.configuration.RestartStrategyOptions",
            "org.apache.flink.configuration.MetricOptions",
            "org.apache.flink.configuration.CoreOptions",
            "org.apache.flink.configuration.PipelineOptions",
            "org.apache.flink.configuration.ExecutionOptions",
            "org.apache.flink.configuration.ClusterOptions",
            "org.apache.flink.configuration.DeploymentOptions",
            "org.apache.flink.configuration.RestOptions",
            "org.apache.flink.configuration.WebOptions",
            "org.apache.flink.configuration.SecurityOptions",
            "org.apache.flink.configuration.BlobServerOptions",
            "org.apache.flink.configuration.NettyShuffleEnvironmentOptions",
            "org.apache.flink.configuration.ResourceManagerOptions",
            "org.apache.flink.configuration.RpcOptions",
            "org.apache.flink.state.rocksdb.RocksDBOptions",
            "org.apache.flink.state.rocksdb.RocksDBConfigurableOptions",
            EngramOptions.class.getName(),
        };
        for (String name : classes) {
            Class<?> cls;
            try {
                cls = Class.forName(name);
            } catch (ClassNotFoundException e) {
                if (name.contains("rocksdb")) {
                    continue; // optional on the test classpath
                }
                throw new IllegalStateException("Flink option class missing: " + name, e);
            }
            for (Field f : cls.getFields()) {
                if (Modifier.isStatic(f.getModifiers()) && ConfigOption.class.isAssignableFrom(f.getType())) {
                    try {
                        ConfigOption<?> o = (ConfigOption<?>) f.get(null);
                        out.put(o.key(), o);
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        }
        return out;
    }

    /** Paths of every non-empty fabric8 additionalProperties map reachable from {@code o}. */
    private static void collectAdditionalProperties(Object o, String path, List<String> out,
            IdentityHashMap<Object, Boolean> seen) {
        if (o == null || seen.put(o, Boolean.TRUE) != null) {
            return;
        }
        Class<?> cls = o.getClass();
        if (o instanceof Map<?, ?> m) {
            m.forEach((k, v) -> collectAdditionalProperties(v, path + "." + k, out, seen));
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) {
                collectAdditionalProperties(e, path + "[" + i++ + "]", out, seen);
            }
            return;
        }
        String pkg = cls.getPackageName();
        if (!pkg.startsWith("io.fabric8") && !pkg.startsWith("org.apache.flink.kubernetes")) {
            return;
        }
        try {
            Method extra = cls.getMethod("getAdditionalProperties");
            Object props = extra.invoke(o);
            if (props instanceof Map<?, ?> m && !m.isEmpty()) {
                m.keySet().forEach(k -> out.add(path + "." + k));
            }
        } catch (NoSuchMethodException e) {
            // not a fabric8 model class
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
        for (Class<?> c = cls; c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers()) || f.getType().isPrimitive()
                        || f.getName().equals("additionalProperties")) {
                    continue;
                }
                try {
                    f.setAccessible(true);
                    collectAdditionalProperties(f.get(o), path + "." + f.getName(), out, seen);
                } catch (RuntimeException | IllegalAccessException e) {
                    // inaccessible JDK internals: not model fields
                }
            }
        }
    }
}
