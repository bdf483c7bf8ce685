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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.examples.bench.BenchArgs.Option;
import io.tokenroute.examples.demo.RoutingSkew;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The GPU benches' options: defaults, the lists of batch sizes and skews, and one clear line for each bad value. */
class BenchArgsTest {
    private static final int K = 8;
    private static final Set<Option> CUDA_LOCAL =
            BenchArgs.accepting(Option.SETS, Option.WARMUP, Option.ITERS, Option.DIR, Option.TOKENS, Option.SKEW);

    private static BenchArgs parse(String line) {
        return BenchArgs.parse(line.isBlank() ? new String[0] : line.trim().split("\\s+"), K, CUDA_LOCAL);
    }

    private static List<String> names(BenchArgs a) {
        return a.skews.stream().map(BenchSkew::name).toList();
    }

    @Test
    void defaultsAreTheDecodeShapes() {
        BenchArgs a = parse("");
        assertEquals(List.of(1, 8, 32, 128), a.tokens);
        assertEquals(List.of("uniform", "zipf:1.0", "zipf:1.2", "half-hot"), names(a));
        assertEquals(200, a.iters);
        assertEquals(30, a.warmup);
        assertEquals(6, a.sets);
        assertEquals(128, a.bufferTokens());
    }

    @Test
    void readsEveryOptionAndKeepsTheOrderGiven() {
        BenchArgs a = parse("--iters 50 --warmup 0 --sets 4 --dir /tmp/x --tokens 32,1,256 --skew zipf:1.5,hot:2");
        assertEquals(50, a.iters);
        assertEquals(0, a.warmup);
        assertEquals(4, a.sets);
        assertEquals(Path.of("/tmp/x"), a.dir);
        assertEquals(List.of(32, 1, 256), a.tokens);
        assertEquals(256, a.bufferTokens(), "a batch above 128 sizes the buffers for itself");
        assertEquals(List.of("uniform", "zipf:1.5", "hot:2"), names(a), "uniform comes first, added for the ratios");
        assertEquals(RoutingSkew.hot(2), a.skews.get(2).routing());
    }

    @Test
    void halfHotIsHalfOfKExpertsInEveryToken() {
        BenchArgs a = parse("--skew half-hot,uniform");
        assertEquals(List.of("uniform", "half-hot"), names(a));
        assertEquals(RoutingSkew.hot(K / 2), a.skews.get(1).routing());
        assertEquals(RoutingSkew.UNIFORM, a.skews.get(0).routing());
    }

    @Test
    void noneSkipsAPart() {
        BenchArgs a = parse("--tokens none --skew NONE");
        assertTrue(a.tokens.isEmpty());
        assertTrue(a.skews.isEmpty());
        assertEquals("--iters 200 --warmup 30 --sets 6 --ranks 8 --tokens none --skew none", a.toString());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '"',
            value = {
                "--iters x              | --iters x: not an integer",
                "--iters 0              | --iters 0: outside [1, 1000000]",
                "--warmup -1            | --warmup -1: must be >= 0",
                "--sets 65              | --sets 65: outside [1, 64]",
                "--iters                | --iters needs a value",
                "--ranks 4              | unknown option --ranks; expected one of --iters, --warmup, --sets, --dir,"
                        + " --tokens, --skew",
                "--tokens 1,x           | --tokens 1,x: 'x' is not an integer (expected a list such as 1,8,32,128)",
                "--tokens 0,8           | --tokens 0,8: 0 outside [1, 1024]",
                "--tokens 2000          | --tokens 2000: 2000 outside [1, 1024]",
                "--tokens 8,8           | --tokens 8,8: 8 given twice",
                "--tokens 8,            | --tokens 8,: '' is not an integer (expected a list such as 1,8,32,128)",
                "--skew zipf:1.0,lumpy  | --skew zipf:1.0,lumpy: lumpy: expected uniform, zipf:S (for example"
                        + " zipf:1.2), half-hot, hot, hot:N or mild",
                "--skew zipf:0          | --skew zipf:0: zipf: exponent 0.0 outside (0, 10]",
                "--skew hot:9           | --skew hot:9: hot:9: 9 hot experts exceed k = 8",
                "--skew zipf:1.2,zipf:1.20 | --skew zipf:1.2,zipf:1.20: zipf:1.2 given twice",
                "--skew uniform,,hot    | --skew uniform,,hot: empty entry",
            })
    void refusesBadValuesInOneLine(String line, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(line));
        assertEquals(message.trim(), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void eachBenchAcceptsOnlyItsOptions() {
        Set<Option> nvshmem = EnumSet.of(Option.RANKS, Option.ITERS, Option.WARMUP, Option.TOKENS, Option.SKEW);
        assertEquals(4, BenchArgs.parse(new String[] {"--ranks", "4"}, K, nvshmem).ranks);
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> BenchArgs.parse(new String[] {"--sets", "4"}, K, nvshmem));
        assertEquals(
                "unknown option --sets; expected one of --iters, --warmup, --ranks, --tokens, --skew", e.getMessage());
    }

    @Test
    void halfHotNeedsTwoExpertsPerToken() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BenchArgs.skews("half-hot", 1));
        assertEquals("--skew half-hot: half-hot needs k >= 2 experts per token, got 1", e.getMessage());
    }
}
