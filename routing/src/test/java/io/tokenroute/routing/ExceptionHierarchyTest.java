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
package io.tokenroute.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.TokenRouteException;
import java.io.IOException;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** One {@code catch (TokenRouteException e)} covers every failure the library reports (docs/contract.md §2.8). */
class ExceptionHierarchyTest {

    @Test
    void everyExceptionOfTheLibraryExtendsTheOneBase() throws IOException, ClassNotFoundException {
        List<String> found = new ArrayList<>();
        List<String> offenders = new ArrayList<>();
        for (Class<?> anchor :
                List.of(TokenRouteException.class, io.tokenroute.device.Cuda.class, ElasticBuffer.class)) {
            Path root = Path.of(
                    anchor.getProtectionDomain().getCodeSource().getLocation().getPath());
            for (String name : exceptionClasses(root)) {
                Class<?> type = Class.forName(name);
                if (type == TokenRouteException.class || !RuntimeException.class.isAssignableFrom(type)) {
                    continue;
                }
                found.add(type.getSimpleName());
                if (!TokenRouteException.class.isAssignableFrom(type)) {
                    offenders.add(name);
                }
            }
        }
        assertTrue(found.size() >= 10, "expected the library's ten failure types, found " + found);
        assertEquals(List.of(), offenders, "runtime exceptions of the library outside TokenRouteException");
    }

    /** Names of the classes called {@code *Exception} in a module's classes folder or jar. */
    private static List<String> exceptionClasses(Path location) throws IOException {
        if (Files.isDirectory(location)) {
            return exceptionClassesUnder(location);
        }
        try (FileSystem jar = FileSystems.newFileSystem(location)) {
            return exceptionClassesUnder(jar.getPath("/"));
        }
    }

    private static List<String> exceptionClassesUnder(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            return files.map(p -> root.relativize(p).toString())
                    .filter(p -> p.endsWith("Exception.class") && !p.contains("$"))
                    .map(p -> p.substring(0, p.length() - ".class".length()).replace('/', '.'))
                    .sorted()
                    .toList();
        }
    }
}
