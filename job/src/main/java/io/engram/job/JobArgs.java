package io.engram.job;

import org.apache.flink.configuration.Configuration;

/** Program arguments as configuration: {@code --key value} or {@code -Dkey=value}, for any option. */
final class JobArgs {
    private JobArgs() {
    }

    static Configuration parse(String[] args) {
        Configuration c = new Configuration();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.startsWith("-D") && a.contains("=")) {
                int eq = a.indexOf('=');
                c.setString(a.substring(2, eq), a.substring(eq + 1));
            } else if (a.startsWith("--") && i + 1 < args.length) {
                c.setString(a.substring(2), args[++i]);
            } else {
                throw new IllegalArgumentException("unexpected program argument '" + a
                        + "': use --key value or -Dkey=value");
            }
        }
        return c;
    }
}
