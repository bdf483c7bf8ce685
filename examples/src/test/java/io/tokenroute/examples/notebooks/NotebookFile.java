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
package io.tokenroute.examples.notebooks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * A Jupyter notebook file (nbformat 4) as a reader sees it: its code cells with their execution counts, and what the
 * cells showed, sorted the way a reader sorts it (printed text, values, error outputs, text on stderr, images).
 */
final class NotebookFile {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final JsonNode root;

    private NotebookFile(Path path, JsonNode root) {
        this.path = path;
        this.root = root;
    }

    /** One code cell: its position among all cells, its source and the execution count Jupyter gave it (or null). */
    record CodeCell(int index, String source, Integer executionCount, JsonNode outputs) {}

    /**
     * Reads a notebook.
     *
     * @throws IllegalArgumentException if the file is not an nbformat 4 notebook
     */
    static NotebookFile read(Path path) throws IOException {
        JsonNode root = JSON.readTree(path.toFile());
        if (root.path("nbformat").asInt() != 4 || !root.path("cells").isArray()) {
            throw new IllegalArgumentException(path + " is not an nbformat 4 notebook");
        }
        return new NotebookFile(path, root);
    }

    Path path() {
        return path;
    }

    String name() {
        return path.getFileName().toString();
    }

    /** {@code metadata.kernelspec.name}: {@code java} for JJava (and IJava). */
    String kernelName() {
        return root.path("metadata").path("kernelspec").path("name").asText("");
    }

    /** Whether the notebook runs only where a CUDA device is ({@code metadata.tokenroute.requires = "cuda"}). */
    boolean requiresCuda() {
        return "cuda"
                .equals(root.path("metadata")
                        .path("tokenroute")
                        .path("requires")
                        .asText(""));
    }

    List<CodeCell> codeCells() {
        List<CodeCell> cells = new ArrayList<>();
        JsonNode all = root.path("cells");
        for (int i = 0; i < all.size(); i++) {
            JsonNode cell = all.get(i);
            if ("code".equals(cell.path("cell_type").asText())) {
                JsonNode count = cell.path("execution_count");
                cells.add(new CodeCell(
                        i, text(cell.path("source")), count.isInt() ? count.asInt() : null, cell.path("outputs")));
            }
        }
        return cells;
    }

    /** The lines a reader reads: what the cells printed to stdout and the values they showed, in order. */
    List<String> textLines() {
        List<String> lines = new ArrayList<>();
        for (JsonNode output : outputs()) {
            String type = output.path("output_type").asText();
            if (type.equals("stream") && output.path("name").asText().equals("stdout")) {
                lines.addAll(text(output.path("text")).lines().toList());
            } else if (type.equals("execute_result")) {
                lines.addAll(
                        text(output.path("data").path("text/plain")).lines().toList());
            }
        }
        return lines;
    }

    /** Every {@code error} output, as {@code "ename: evalue (cell N)"}. */
    List<String> errors() {
        List<String> errors = new ArrayList<>();
        for (CodeCell cell : codeCells()) {
            for (JsonNode output : cell.outputs()) {
                if (output.path("output_type").asText().equals("error")) {
                    errors.add(output.path("ename").asText() + ": "
                            + output.path("evalue").asText() + " (cell " + cell.index() + ")");
                }
            }
        }
        return errors;
    }

    /** What the cells printed to stderr (Jupyter shows it in red). */
    List<String> stderr() {
        List<String> texts = new ArrayList<>();
        for (JsonNode output : outputs()) {
            if (output.path("output_type").asText().equals("stream")
                    && output.path("name").asText().equals("stderr")) {
                texts.add(text(output.path("text")));
            }
        }
        return texts;
    }

    /** The bytes of every {@code image/png} shown through {@code display_data}, in order. */
    List<byte[]> displayedPngs() {
        List<byte[]> images = new ArrayList<>();
        for (JsonNode output : outputs()) {
            JsonNode png = output.path("data").path("image/png");
            if (output.path("output_type").asText().equals("display_data") && png.isTextual()) {
                images.add(Base64.getMimeDecoder().decode(png.asText()));
            }
        }
        return images;
    }

    private List<JsonNode> outputs() {
        List<JsonNode> outputs = new ArrayList<>();
        for (CodeCell cell : codeCells()) {
            cell.outputs().forEach(outputs::add);
        }
        return outputs;
    }

    /** nbformat's "multiline string": a string, or an array of strings to concatenate. */
    private static String text(JsonNode node) {
        if (node.isArray()) {
            StringBuilder joined = new StringBuilder();
            node.forEach(part -> joined.append(part.asText()));
            return joined.toString();
        }
        return node.asText("");
    }
}
