package io.engram.job.packaging;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;

/**
 * The shaded job jar that {@code package} wrote (failsafe passes its path) is only the job: the job's classes, its
 * connectors and formats, but no CLI, no picocli, no embedded Kafka broker, no benchmark driver, no Flink runtime
 * and no logging binding (the cluster provides those), and {@code flink run} finds the entry point in its manifest.
 */
class JobJarContentsIT {

    static List<String> entries(Path jar) throws IOException {
        try (JarFile f = new JarFile(jar.toFile())) {
            return f.stream().map(e -> e.getName()).toList();
        }
    }

    @Test
    void theJobJarHoldsTheJobAndNothingElse() throws IOException {
        Path jar = Path.of(System.getProperty("engram.job.jar", "target/engram-job-missing.jar"));
        assertThat(jar).as("the shaded job jar built by package").isRegularFile();
        List<String> names = entries(jar);

        assertThat(names).as("the job itself").contains("io/engram/job/EngramJob.class",
                "io/engram/job/operator/MemorySpaceFunction.class", "io/engram/kernels/Kernels.class",
                "io/engram/schemas/AvroCodec.class",
                "org/apache/flink/connector/kafka/source/KafkaSource.class",
                "org/apache/kafka/clients/producer/KafkaProducer.class",
                // Avro's run-time dependency (a NoClassDefFoundError on a cluster once it went missing)
                "com/fasterxml/jackson/databind/JsonNode.class");
        assertThat(names).as("tools, broker, benchmark driver, runtime, logging").noneMatch(n ->
                n.startsWith("io/engram/job/cli/") || n.startsWith("io/engram/job/bench/")
                        || n.startsWith("io/engram/job/local/") || n.startsWith("picocli/")
                        || (n.startsWith("kafka/") && n.endsWith(".class")) || n.startsWith("scala/")
                        || n.startsWith("org/apache/kafka/raft/") || n.startsWith("org/apache/kafka/storage/")
                        || n.startsWith("org/apache/flink/runtime/") || n.startsWith("org/apache/flink/streaming/api/")
                        || n.startsWith("org/apache/logging/log4j/") || n.startsWith("org/slf4j/"));
        try (JarFile f = new JarFile(jar.toFile())) {
            Manifest m = f.getManifest();
            assertThat(m.getMainAttributes().getValue("Main-Class")).isEqualTo("io.engram.job.EngramJob");
        }
    }
}
