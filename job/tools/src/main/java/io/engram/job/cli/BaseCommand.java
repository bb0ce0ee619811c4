package io.engram.job.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;

/** Shared plumbing of the subcommands: the parent's streams and environment. */
abstract class BaseCommand implements Callable<Integer> {
    @CommandLine.ParentCommand
    EngramCli cli;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    PrintWriter out() {
        return cli.out;
    }

    PrintWriter err() {
        return cli.err;
    }

    /** A status line on stderr, prefixed with the command name. */
    void note(String message) {
        cli.err.println("engram " + spec.name() + ": " + message);
        cli.err.flush();
    }
}
