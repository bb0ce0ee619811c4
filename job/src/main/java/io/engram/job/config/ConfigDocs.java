package io.engram.job.config;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.description.BlockElement;
import org.apache.flink.configuration.description.Description;
import org.apache.flink.configuration.description.TextElement;
import org.apache.flink.util.TimeUtils;

/**
 * Generates {@value #DOC_PATH}, the configuration reference, from the {@code public static ConfigOption} fields of
 * {@link EngramOptions}. {@code ConfigDocsTest} fails when the file in the repository differs from what this
 * produces; regenerate it with {@value #REGENERATE_COMMAND} (from the repository root), or run {@link #main} with
 * the output file as its argument.
 */
public final class ConfigDocs {
    /** The generated file, relative to the repository root. */
    public static final String DOC_PATH = "docs/operations/configuration.md";

    /** Rewrites the file: the test in update mode (compiles the current sources; needs no Zig). */
    public static final String REGENERATE_COMMAND = "mvn -B -q -Pjava-only -pl job -am test "
            + "-Dtest=ConfigDocsTest -Dsurefire.failIfNoSpecifiedTests=false -DupdateConfigDocs=true";

    private ConfigDocs() {
    }

    /** One documented option: its field, key, value type and default. */
    public record Entry(String field, ConfigOption<?> option, Class<?> valueType) {
        public String key() {
            return option.key();
        }
    }

    /** Every {@code public static ConfigOption} field of {@link EngramOptions}, sorted by key. */
    public static List<Entry> options() {
        List<Entry> out = new ArrayList<>();
        for (Field f : EngramOptions.class.getFields()) {
            int m = f.getModifiers();
            if (!Modifier.isStatic(m) || !ConfigOption.class.isAssignableFrom(f.getType())) {
                continue;
            }
            try {
                out.add(new Entry(f.getName(), (ConfigOption<?>) f.get(null), valueType(f)));
            } catch (IllegalAccessException e) {
                throw new IllegalStateException("cannot read EngramOptions." + f.getName(), e);
            }
        }
        out.sort(Comparator.comparing(Entry::key));
        return out;
    }

    private static Class<?> valueType(Field f) {
        Type t = f.getGenericType();
        if (t instanceof ParameterizedType p && p.getActualTypeArguments()[0] instanceof Class<?> c) {
            return c;
        }
        throw new IllegalStateException("EngramOptions." + f.getName() + " must be declared as ConfigOption<T>");
    }

    /** The Markdown text of the reference. */
    public static String generate() {
        StringBuilder sb = new StringBuilder();
        sb.append("# Configuration reference\n\n");
        sb.append("<!-- Generated from io.engram.job.config.EngramOptions by io.engram.job.config.ConfigDocs. Do not "
                + "edit by hand: change the options, then run\n     ").append(REGENERATE_COMMAND)
                .append("\n     from the repository root. ConfigDocsTest fails while this file is stale. -->\n\n");
        sb.append("Every `engram.*` option can be given\n\n"
                + "- on a cluster: `flink run -Dkey=value ... engram-job.jar`, in the cluster's `config.yaml`, or as "
                + "program arguments `--key value` / `-Dkey=value` after the jar;\n"
                + "- locally: `./engram run -Dkey=value ...` (see [cli.md](cli.md)).\n\n"
                + "Durations take a unit (`500 ms`, `30 s`, `10 min`, `1 h`, `2 d`), memory sizes too (`2 mb`, "
                + "`512 kb`). An invalid value fails the job at submission with a message that names the key.\n\n"
                + "Two Flink settings have job defaults of their own, used only where neither the job's nor the "
                + "cluster's configuration sets them: `execution.checkpointing.interval` 10 s (the exactly-once sinks "
                + "commit at checkpoints) and `execution.buffer-timeout.interval` 5 ms instead of Flink's 100 ms (a "
                + "recall crosses one network exchange, where a partly filled buffer would otherwise wait up to "
                + "100 ms; `execution.buffer-timeout.enabled: false` is kept too). `EngramJobTest` checks both.\n\n");

        Map<String, List<Entry>> sections = new TreeMap<>();
        for (Entry e : options()) {
            String[] parts = e.key().split("\\.");
            sections.computeIfAbsent(parts.length > 2 ? parts[1] : "general", k -> new ArrayList<>()).add(e);
        }
        for (Map.Entry<String, List<Entry>> s : sections.entrySet()) {
            sb.append("## engram.").append(s.getKey()).append(".*\n\n");
            sb.append("| Key | Type | Default | Description |\n");
            sb.append("|---|---|---|---|\n");
            for (Entry e : s.getValue()) {
                sb.append("| `").append(e.key()).append("` | ").append(typeName(e.valueType())).append(" | ")
                        .append(defaultText(e.option())).append(" | ").append(cell(text(e.option().description())))
                        .append(" |\n");
            }
            sb.append('\n');
        }

        sb.append("## Kafka client properties: `").append(EngramOptions.KAFKA_PROPERTIES_PREFIX).append("*`\n\n");
        sb.append("Any key under `").append(EngramOptions.KAFKA_PROPERTIES_PREFIX)
                .append("` is handed, without the prefix, to every Kafka client of the job (the three sources and the "
                        + "two sinks) and of the `engram send`, `engram tail` and `engram run` commands. "
                        + "Use it for security and tuning, for example:\n\n")
                .append("```\n")
                .append("-D").append(EngramOptions.KAFKA_PROPERTIES_PREFIX).append("security.protocol=SASL_SSL\n")
                .append("-D").append(EngramOptions.KAFKA_PROPERTIES_PREFIX).append("sasl.mechanism=SCRAM-SHA-512\n")
                .append("-D").append(EngramOptions.KAFKA_PROPERTIES_PREFIX)
                .append("sasl.jaas.config='org.apache.kafka.common.security.scram.ScramLoginModule required "
                        + "username=\"engram\" password=\"...\";'\n")
                .append("```\n\n")
                .append("The job sets some client properties itself, whatever is given here: the sources always read "
                        + "with `isolation.level=read_committed`, and the exactly-once sinks' `transaction.timeout.ms` comes from `")
                .append(EngramOptions.TRANSACTION_TIMEOUT.key()).append("`. The `engram status` command never prints "
                        + "these values.\n\n");

        sb.append("## Environment variables\n\n");
        sb.append("| Variable | Meaning |\n|---|---|\n");
        sb.append("| `ENGRAM_ARENA_SIZE` | Native arena size per task slot in bytes (4096 to 1073741824), used when `")
                .append(EngramOptions.ARENA_SIZE.key()).append("` is not set; unset: 2 MiB (2097152). |\n");
        sb.append("| `ENGRAM_ARENA_OVERFLOW` | Arena overflow strategy (`fallback`, `fail`, `fail-task`), used when `")
                .append(EngramOptions.ARENA_OVERFLOW.key()).append("` is not set; unset: `fallback`. |\n\n");
        sb.append("An explicit option wins over the variable. Both variables are always parsed: an invalid value is a "
                + "startup error even when the option overrides it. On a cluster, set them for the TaskManagers (for "
                + "example with `containerized.taskmanager.env.ENGRAM_ARENA_SIZE` or the TaskManager's environment).\n");
        return sb.toString();
    }

    static String typeName(Class<?> c) {
        if (c == Duration.class) {
            return "Duration";
        }
        if (c == MemorySize.class) {
            return "MemorySize";
        }
        return c.getSimpleName();
    }

    static String defaultText(ConfigOption<?> o) {
        if (!o.hasDefaultValue()) {
            return "(none)";
        }
        Object v = o.defaultValue();
        String text;
        if (v instanceof Duration d) {
            text = TimeUtils.formatWithHighestUnit(d);
        } else if (v instanceof MemorySize m) {
            text = m.toHumanReadableString();
        } else {
            text = String.valueOf(v);
        }
        return "`" + text + "`";
    }

    static String text(Description d) {
        StringBuilder sb = new StringBuilder();
        for (BlockElement b : d.getBlocks()) {
            if (b instanceof TextElement t && t.getElements().isEmpty()) {
                sb.append(t.getFormat());
            } else {
                throw new IllegalStateException("ConfigDocs renders plain-text descriptions only; got " + b);
            }
        }
        return sb.toString();
    }

    /** One Markdown table cell: pipes escaped, no line breaks. */
    static String cell(String s) {
        return s.replace("|", "\\|").replace("\r", " ").replace("\n", " ");
    }

    /**
     * Writes the reference. Argument: the output file (default {@value #DOC_PATH}, relative to the working
     * directory, which should be the repository root).
     */
    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : DOC_PATH);
        write(out);
        System.out.println("wrote " + out.toAbsolutePath().normalize());
    }

    public static void write(Path out) throws IOException {
        if (out.getParent() != null) {
            Files.createDirectories(out.getParent());
        }
        Files.writeString(out, generate(), StandardCharsets.UTF_8);
    }

    /** Keys of every option, for validating user input: key → option. */
    public static Map<String, ConfigOption<?>> byKey() {
        Map<String, ConfigOption<?>> m = new LinkedHashMap<>();
        for (Entry e : options()) {
            m.put(e.key(), e.option());
        }
        return m;
    }
}
