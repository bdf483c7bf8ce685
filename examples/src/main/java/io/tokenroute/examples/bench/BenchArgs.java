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
package io.tokenroute.examples.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The GPU benches' command line: {@code --iters N}, {@code --warmup N}, {@code --sets N}, {@code --ranks R},
 * {@code --dir PATH}, {@code --tokens T,T,...} (the small-batch sizes, tokens per rank, or {@code none}) and
 * {@code --skew FORM,FORM,...} (the routing distributions of the skew table, or {@code none}; {@code uniform} is added
 * first when missing, since every skewed row is compared with it). Each bench accepts a subset; anything else, and
 * every bad value, is refused with one line naming the option.
 */
final class BenchArgs {
    /** The small-batch sizes of the decode-shaped tables: tokens per rank. */
    static final List<Integer> DEFAULT_TOKENS = List.of(1, 8, 32, 128);

    static final List<String> DEFAULT_SKEWS = List.of("uniform", "zipf:1.0", "zipf:1.2", "half-hot");

    /** Tokens per rank the buffers hold at least (DeepSeek's decode batch); a larger {@code --tokens} raises it. */
    static final int BUFFER_TOKENS = 128;

    static final int MAX_TOKENS = 1024;

    /** Tokens per rank of the skew tables (DeepSeek's decode batch). */
    static final int SKEW_TOKENS = 128;

    /** The options, by their command-line names. */
    enum Option {
        ITERS("--iters"),
        WARMUP("--warmup"),
        SETS("--sets"),
        RANKS("--ranks"),
        DIR("--dir"),
        TOKENS("--tokens"),
        SKEW("--skew");

        final String flag;

        Option(String flag) {
            this.flag = flag;
        }
    }

    int iters = 200;
    int warmup = 30;
    int sets = 6;
    int ranks = 8;
    Path dir = Path.of("/tmp/tokenroute-bench");
    List<Integer> tokens = DEFAULT_TOKENS;
    List<BenchSkew> skews;

    private BenchArgs() {}

    /**
     * Parses {@code args} for a bench that accepts {@code accepted}, with k experts per token (for {@code half-hot}).
     *
     * @throws IllegalArgumentException one line: the option and what is wrong with it
     */
    static BenchArgs parse(String[] args, int topK, Set<Option> accepted) {
        BenchArgs a = new BenchArgs();
        a.skews = skews(String.join(",", DEFAULT_SKEWS), topK);
        for (int i = 0; i < args.length; i++) {
            Option option = option(args[i], accepted);
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(option.flag + " needs a value");
            }
            String value = args[++i];
            switch (option) {
                case ITERS -> a.iters = positive(option, value, 1_000_000);
                case WARMUP -> a.warmup = nonNegative(option, value);
                case SETS -> a.sets = positive(option, value, 64);
                case RANKS -> a.ranks = positive(option, value, 64);
                case DIR -> a.dir = Path.of(value);
                case TOKENS -> a.tokens = tokens(value);
                case SKEW -> a.skews = skews(value, topK);
            }
        }
        return a;
    }

    /** Tokens per rank the buffers are sized for: {@link #BUFFER_TOKENS}, or the largest {@code --tokens}. */
    int bufferTokens() {
        return Math.max(
                BUFFER_TOKENS, tokens.stream().mapToInt(Integer::intValue).max().orElse(0));
    }

    private static Option option(String flag, Set<Option> accepted) {
        for (Option o : accepted) {
            if (o.flag.equals(flag)) {
                return o;
            }
        }
        throw new IllegalArgumentException("unknown option " + flag + "; expected one of "
                + EnumSet.copyOf(accepted).stream().map(o -> o.flag).collect(Collectors.joining(", ")));
    }

    private static int positive(Option option, String value, int max) {
        int n = integer(option, value);
        if (n < 1 || n > max) {
            throw new IllegalArgumentException(option.flag + " " + value + ": outside [1, " + max + "]");
        }
        return n;
    }

    private static int nonNegative(Option option, String value) {
        int n = integer(option, value);
        if (n < 0) {
            throw new IllegalArgumentException(option.flag + " " + value + ": must be >= 0");
        }
        return n;
    }

    private static int integer(Option option, String value) {
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option.flag + " " + value + ": not an integer", e);
        }
    }

    /** {@code none}, or distinct sizes in [1, MAX_TOKENS], kept in the order given. */
    static List<Integer> tokens(String value) {
        if (value.trim().equalsIgnoreCase("none")) {
            return List.of();
        }
        List<Integer> out = new ArrayList<>();
        for (String part : value.split(",", -1)) {
            int t;
            try {
                t = Integer.parseInt(part.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        "--tokens " + value + ": '" + part + "' is not an integer (expected a list such as 1,8,32,128)",
                        e);
            }
            if (t < 1 || t > MAX_TOKENS) {
                throw new IllegalArgumentException("--tokens " + value + ": " + t + " outside [1, " + MAX_TOKENS + "]");
            }
            if (out.contains(t)) {
                throw new IllegalArgumentException("--tokens " + value + ": " + t + " given twice");
            }
            out.add(t);
        }
        return List.copyOf(out);
    }

    /** {@code none}, or distinct forms of {@link BenchSkew#parse}; {@code uniform} first (added when missing). */
    static List<BenchSkew> skews(String value, int topK) {
        if (value.trim().equalsIgnoreCase("none")) {
            return List.of();
        }
        List<BenchSkew> out = new ArrayList<>();
        for (String part : value.split(",", -1)) {
            if (part.isBlank()) {
                throw new IllegalArgumentException("--skew " + value + ": empty entry");
            }
            BenchSkew skew;
            try {
                skew = BenchSkew.parse(part, topK);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--skew " + value + ": " + detail(e.getMessage(), part), e);
            }
            if (out.contains(skew)) {
                throw new IllegalArgumentException("--skew " + value + ": " + skew + " given twice");
            }
            out.add(skew);
        }
        out.removeIf(BenchSkew::isUniform);
        out.add(0, BenchSkew.parse(BenchSkew.UNIFORM, topK));
        return List.copyOf(out);
    }

    /** {@code "--skew PART: why"} without its prefix, so the list's message names the entry once. */
    private static String detail(String message, String part) {
        String prefix = "--skew ";
        return message.startsWith(prefix) ? message.substring(prefix.length()) : part + ": " + message;
    }

    /** The value of {@code --tokens} that parses back to {@link #tokens}. */
    String tokensValue() {
        return tokens.isEmpty() ? "none" : tokens.stream().map(String::valueOf).collect(Collectors.joining(","));
    }

    /** The value of {@code --skew} that parses back to {@link #skews}. */
    String skewValue() {
        return skews.isEmpty() ? "none" : skews.stream().map(BenchSkew::name).collect(Collectors.joining(","));
    }

    @Override
    public String toString() {
        return String.format(
                Locale.ROOT,
                "--iters %d --warmup %d --sets %d --ranks %d --tokens %s --skew %s",
                iters,
                warmup,
                sets,
                ranks,
                tokensValue(),
                skewValue());
    }

    /** The accepted set as a varargs convenience. */
    static Set<Option> accepting(Option... options) {
        return EnumSet.copyOf(Arrays.asList(options));
    }
}
