/*
 * Copyright 2026 The TokenRoute Authors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
package io.tokenroute.examples.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code tokenroute} command line (run it with {@code ./tokenroute} at the repository root): {@code demo}, the
 * elastic decode demo, and {@code route}, one routing round over an Arrow IPC file. Exit codes: 0 success, 1 a
 * failed run (mismatch, false mask, error), 2 bad usage. Every failure is reported by {@link CliErrors} as one line,
 * {@code tokenroute COMMAND: [FILE: ]PROBLEM}; {@code --verbose} (accepted by every command) adds the stack trace.
 */
@Command(
        name = "tokenroute",
        mixinStandardHelpOptions = true,
        versionProvider = TokenRouteCli.Version.class,
        subcommands = {DemoCommand.class, RouteCommand.class, CommandLine.HelpCommand.class},
        description = {
            "Elastic expert-parallel token routing for Mixture-of-Experts inference, with Arrow batches.",
            "Start with: tokenroute demo"
        })
public final class TokenRouteCli implements Runnable {
    @Spec
    private CommandSpec spec;

    @Option(
            names = CliErrors.VERBOSE,
            scope = ScopeType.INHERIT,
            description = "On an error, print its stack trace after the one-line message.")
    private boolean verbose;

    /** Runs the CLI and exits with its exit code. */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** A fresh command line (tests run it in-process with {@code execute}). */
    public static CommandLine commandLine() {
        CliErrors errors = new CliErrors();
        return new CommandLine(new TokenRouteCli())
                .setExecutionExceptionHandler(errors)
                .setParameterExceptionHandler(errors);
    }

    /** Without a subcommand there is nothing to do: say so with the usage (exit code 2). */
    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "Missing subcommand: use 'demo' or 'route'");
    }

    /** The version from the packaged jar's Maven descriptor, with the Java runtime and the transports. */
    static final class Version implements IVersionProvider {
        private static final String POM_PROPERTIES = "/META-INF/maven/io.tokenroute/tokenroute-examples/pom.properties";

        @Override
        public String[] getVersion() throws IOException {
            Properties p = new Properties();
            try (InputStream in = TokenRouteCli.class.getResourceAsStream(POM_PROPERTIES)) {
                if (in != null) {
                    p.load(in);
                }
            }
            return new String[] {
                "tokenroute " + p.getProperty("version", "(development build, not from the packaged jar)"),
                "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")",
                "transports: " + String.join(", ", Transports.AVAILABLE)
            };
        }
    }
}
