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

import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * How every {@code tokenroute} command reports a failure: one line on standard error, {@code tokenroute COMMAND:
 * PROBLEM} (a problem with a file reads {@code FILE: PROBLEM}), and an exit status of 1 for a failed run or 2 for bad
 * usage. The stack trace follows only with {@code --verbose}, which every command accepts.
 */
final class CliErrors implements IExecutionExceptionHandler, IParameterExceptionHandler {
    /** The option that asks for stack traces, on the top command and inherited by every subcommand. */
    static final String VERBOSE = "--verbose";

    /** Exit status of a run that failed. */
    static final int FAILED = 1;
    /** Exit status of a command line that cannot run. */
    static final int USAGE = 2;

    @Override
    public int handleExecutionException(Exception e, CommandLine command, ParseResult parsed) {
        report(command, describe(e), verbose(parsed) ? e : null);
        return FAILED;
    }

    @Override
    public int handleParseException(ParameterException e, String[] args) {
        CommandLine command = e.getCommandLine();
        String message = oneLine(e.getMessage());
        if (e instanceof UnmatchedArgumentException unmatched
                && !unmatched.getSuggestions().isEmpty()) {
            message += " (did you mean " + String.join(" or ", unmatched.getSuggestions()) + "?)";
        }
        boolean verbose = e.getCommandLine().getParseResult() != null && verbose(command.getParseResult());
        report(
                command,
                message + "; see '" + command.getCommandSpec().qualifiedName() + " --help'",
                verbose ? e : null);
        return USAGE;
    }

    /** The line for a failure: what went wrong, with the file first where there is one. */
    static String describe(Throwable e) {
        if (e instanceof FileSystemException fs && fs.getFile() != null) {
            String reason = fs instanceof NoSuchFileException
                    ? "no such file or directory"
                    : fs instanceof AccessDeniedException
                            ? "permission denied"
                            : fs instanceof NotDirectoryException
                                    ? "not a directory"
                                    : fs.getReason() != null
                                            ? fs.getReason()
                                            : fs.getClass().getSimpleName();
            return fs.getFile() + ": " + (fs.getOtherFile() != null ? fs.getOtherFile() + ": " : "") + oneLine(reason);
        }
        String message = e.getMessage();
        boolean expected = e instanceof java.io.IOException
                || e instanceof IllegalArgumentException
                || e instanceof IllegalStateException;
        if (message == null || message.isBlank()) {
            return e.getClass().getSimpleName() + " (run with " + VERBOSE + " for the stack trace)";
        }
        return expected ? oneLine(message) : e.getClass().getSimpleName() + ": " + oneLine(message);
    }

    private static void report(CommandLine command, String message, Throwable trace) {
        PrintWriter err = command.getErr();
        err.println(command.getCommandSpec().qualifiedName() + ": " + message);
        if (trace != null) {
            trace.printStackTrace(err);
        }
        err.flush();
    }

    private static boolean verbose(ParseResult parsed) {
        for (ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption(VERBOSE)) {
                return true;
            }
        }
        return false;
    }

    /** Messages with line breaks (Arrow's, picocli's) folded into one line. */
    static String oneLine(String message) {
        return message == null ? "" : message.strip().replaceAll("\\s*\\R\\s*", "; ");
    }
}
