package io.engram.job.cli;

import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code engram}: the command-line tool of engram-flink. Run through the {@code ./engram} launcher at the repository
 * root, which builds the local distribution on first use and starts this class on its classpath.
 *
 * <p>Exit codes: 0 success (also after Ctrl-C/SIGTERM or {@code --duration} of a long-running command), 1 failure,
 * 2 bad arguments or bad input. Errors are one {@code engram: error: ...} line on stderr; details are in the log
 * file (printed at the start of the long-running commands; {@code ENGRAM_LOG_FILE} sets it).
 */
@Command(name = "engram",
        mixinStandardHelpOptions = true,
        versionProvider = EngramCli.Version.class,
        description = "engram-flink: a cognitive-memory engine as an Apache Flink job.%n"
                + "Runs the demo and the job locally, a Kafka broker for staging, and sends/reads engram records as "
                + "JSON Lines.",
        subcommands = {
            DemoCommand.class,
            RunCommand.class,
            BrokerCommand.class,
            SendCommand.class,
            TailCommand.class,
            StatusCommand.class,
            CommandLine.HelpCommand.class},
        footer = {"%nExit codes: 0 ok, 1 failure, 2 bad arguments or input.",
            "Docs: docs/operations/cli.md, docs/operations/configuration.md"})
public final class EngramCli implements Runnable {
    /** Where the long-running commands' logs go unless ENGRAM_LOG_FILE says otherwise. */
    static final String LOG_FILE_ENV = "ENGRAM_LOG_FILE";

    final InputStream in;
    final PrintWriter out;
    final PrintWriter err;
    /** True when this is the process's main command: handle SIGINT/SIGTERM ourselves. */
    final boolean ownsProcess;
    final Map<String, String> env;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    EngramCli(InputStream in, PrintWriter out, PrintWriter err, boolean ownsProcess, Map<String, String> env) {
        this.in = in;
        this.out = out;
        this.err = err;
        this.ownsProcess = ownsProcess;
        this.env = env;
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command: demo, run, broker, send, tail "
                + "or status (engram help for more)");
    }

    public static void main(String[] args) {
        configureLogging(args);
        int code = execute(System.in, System.out, System.err, true, System.getenv(), args);
        System.exit(code);
    }

    /** Runs one command line in this JVM and returns its exit code (for tests and embedding). */
    public static int execute(InputStream in, PrintStream out, PrintStream err, String... args) {
        return execute(in, out, err, false, System.getenv(), args);
    }

    static int execute(InputStream in, PrintStream out, PrintStream err, boolean ownsProcess,
                       Map<String, String> env, String... args) {
        PrintWriter o = new PrintWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8), true);
        PrintWriter e = new PrintWriter(new OutputStreamWriter(err, StandardCharsets.UTF_8), true);
        try {
            return commandLine(new EngramCli(in, o, e, ownsProcess, env)).execute(args);
        } finally {
            o.flush();
            e.flush();
        }
    }

    static CommandLine commandLine(EngramCli cli) {
        CommandLine cl = new CommandLine(cli);
        cl.setOut(cli.out);
        cl.setErr(cli.err);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> handle(ex, commandLine, cli));
        return cl;
    }

    private static int handle(Exception ex, CommandLine commandLine, EngramCli cli) {
        Logger log = LoggerFactory.getLogger(EngramCli.class);
        String name = commandLine.getCommandName();
        if (ex instanceof CliException c) {
            if (c.getCause() != null && c.exitCode() != CliException.USAGE) {
                log.info("engram {} failed: {}", name, c.getMessage(), c);
            } else {
                log.info("engram {} failed: {}", name, c.getMessage());
            }
            cli.err.println("engram " + name + ": error: " + c.getMessage());
            cli.err.flush();
            return c.exitCode();
        }
        if (ex instanceof IllegalArgumentException) {
            // invalid configuration (EngramSettings, KernelMode, ArenaConfig name the key in their messages)
            log.info("engram {} failed: {}", name, ex.toString());
            cli.err.println("engram " + name + ": error: " + ex.getMessage());
            cli.err.flush();
            return CliException.USAGE;
        }
        log.error("engram {} failed", name, ex);
        cli.err.println("engram " + name + ": error: " + summary(ex));
        String logFile = System.getProperty("log.file");
        if (logFile != null) {
            cli.err.println("engram " + name + ": details in " + logFile);
        }
        cli.err.flush();
        return CliException.FAILURE;
    }

    /** The exception and its causes, one line, without repeating messages. */
    static String summary(Throwable t) {
        StringBuilder sb = new StringBuilder();
        String previous = "";
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            String msg = c.getMessage();
            if (msg != null && previous.contains(msg)) {
                continue;
            }
            String part = c.getClass().getSimpleName() + (msg == null ? "" : ": " + msg);
            sb.append(sb.length() == 0 ? "" : " <- ").append(part);
            previous = part;
            if (sb.length() > 600) {
                break;
            }
        }
        return sb.toString();
    }

    /**
     * Before any logger exists: log4j reads the CLI's configuration (everything into a log file, only warnings of
     * engram and errors of others on stderr, never stdout), and Flink's web UI finds the same file as its log.
     */
    static void configureLogging(String[] args) {
        if (System.getProperty("log4j2.configurationFile") == null
                && System.getProperty("log4j.configurationFile") == null) {
            System.setProperty("log4j2.configurationFile", "classpath:io/engram/job/cli/log4j2-cli.properties");
        }
        if (System.getProperty("log.file") == null) {
            System.setProperty("log.file", defaultLogFile(args).toString());
        }
        try {
            Path parent = Path.of(System.getProperty("log.file")).toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
        } catch (Exception ignored) {
            // log4j reports an unwritable file itself
        }
    }

    static Path defaultLogFile(String[] args) {
        String fromEnv = System.getenv(LOG_FILE_ENV);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return Path.of(fromEnv);
        }
        String command = "engram";
        for (String a : args) {
            if (!a.startsWith("-")) {
                command = a.replaceAll("[^A-Za-z0-9_-]", "_");
                break;
            }
        }
        String user = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9_.-]", "_");
        return Path.of(System.getProperty("java.io.tmpdir"), "engram-" + user, command + ".log");
    }

    /** engram, Flink and Kafka versions. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String engram = EngramCli.class.getPackage().getImplementationVersion();
            String flink;
            try {
                flink = org.apache.flink.runtime.util.EnvironmentInformation.getVersion();
            } catch (Throwable t) {
                flink = "unknown";
            }
            return new String[] {
                "engram " + (engram == null ? "(development build)" : engram),
                "Apache Flink " + flink + ", Kafka clients " + org.apache.kafka.common.utils.AppInfoParser.getVersion()
                        + ", Java " + System.getProperty("java.version")};
        }
    }
}
