package io.tokenroute.examples.python;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Jupyter notebook file (nbformat 4) read with Jackson: its cells, its kernel and TokenRoute's own metadata, and the
 * outputs {@link NotebookRunner} fills in. Written back the way Jupyter writes notebooks (keys sorted, one-space
 * indent, multi-line strings as lists of lines), so a notebook filled here and one saved by Jupyter diff cleanly.
 *
 * <p>TokenRoute metadata: {@code metadata.tokenroute.requires = "cuda"} marks a notebook that runs only where a CUDA
 * device is visible.
 */
public final class Notebook {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final ObjectNode root;

    private Notebook(Path path, ObjectNode root) {
        this.path = path;
        this.root = root;
    }

    /** One cell: its index in the notebook, type ({@code code}, {@code markdown}, {@code raw}) and source text. */
    public record Cell(int index, String type, String source) {
        /** Whether the cell holds code. */
        public boolean isCode() {
            return "code".equals(type);
        }
    }

    /**
     * Reads and checks a notebook.
     *
     * @throws IllegalArgumentException if the file is not an nbformat 4 notebook
     */
    public static Notebook read(Path path) throws IOException {
        JsonNode node = JSON.readTree(Files.readString(path, StandardCharsets.UTF_8));
        if (!(node instanceof ObjectNode object) || node.path("nbformat").asInt() != 4 || !node.path("cells").isArray()) {
            throw new IllegalArgumentException(path + " is not an nbformat 4 notebook");
        }
        return new Notebook(path, object);
    }

    /** Where the notebook was read from. */
    public Path path() {
        return path;
    }

    /** The folder relative paths in the notebook (magics) resolve against, as Jupyter starts kernels there. */
    public Path directory() {
        Path parent = path.toAbsolutePath().getParent();
        return parent == null ? Path.of(".").toAbsolutePath() : parent;
    }

    /** {@code metadata.kernelspec.name}, e.g. {@code java} for IJava and JJava; empty if absent. */
    public String kernelName() {
        return root.path("metadata").path("kernelspec").path("name").asText("");
    }

    /** {@code metadata.language_info.name}; empty if absent. */
    public String language() {
        return root.path("metadata").path("language_info").path("name").asText("");
    }

    /** Whether the notebook runs only where a CUDA device is visible ({@code metadata.tokenroute.requires}). */
    public boolean requiresCuda() {
        return "cuda".equals(root.path("metadata").path("tokenroute").path("requires").asText(""));
    }

    /** The cells, in order. */
    public List<Cell> cells() {
        List<Cell> cells = new ArrayList<>();
        ArrayNode array = (ArrayNode) root.get("cells");
        for (int i = 0; i < array.size(); i++) {
            JsonNode cell = array.get(i);
            cells.add(new Cell(i, cell.path("cell_type").asText(), joined(cell.get("source"))));
        }
        return cells;
    }

    /** The outputs stored for cell {@code index} (an empty array if none). */
    public ArrayNode outputs(int index) {
        JsonNode outputs = cell(index).get("outputs");
        return outputs instanceof ArrayNode a ? a : JsonNodeFactory.instance.arrayNode();
    }

    /** Replaces the outputs and execution count of code cell {@code index}. */
    public void setOutputs(int index, Integer executionCount, ArrayNode outputs) {
        ObjectNode cell = cell(index);
        if (executionCount == null) {
            cell.putNull("execution_count");
        } else {
            cell.put("execution_count", executionCount);
        }
        ArrayNode copy = outputs.deepCopy();
        for (JsonNode output : copy) {
            if (output instanceof ObjectNode o && o.has("execution_count") && executionCount != null) {
                o.put("execution_count", executionCount);
            }
        }
        cell.set("outputs", copy);
    }

    /** Clears every code cell's outputs and execution count. */
    public void clearOutputs() {
        for (Cell c : cells()) {
            if (c.isCode()) {
                setOutputs(c.index(), null, JsonNodeFactory.instance.arrayNode());
            }
        }
    }

    /** Writes the notebook as Jupyter does: sorted keys, one-space indent, multi-line text as lists of lines. */
    public void write(Path target) throws IOException {
        DefaultPrettyPrinter printer = new DefaultPrettyPrinter(Separators.createDefaultInstance()
                .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                .withObjectEmptySeparator("").withArrayEmptySeparator(""))
                .withObjectIndenter(new DefaultIndenter(" ", "\n"))
                .withArrayIndenter(new DefaultIndenter(" ", "\n"));
        String text = JSON.writer(printer).writeValueAsString(normalised(root, null));
        Files.writeString(target, text + "\n", StandardCharsets.UTF_8);
    }

    /** Splits text the way nbformat stores it: lines keeping their newline, the last one without. */
    public static ArrayNode lines(String text) {
        ArrayNode out = JsonNodeFactory.instance.arrayNode();
        int start = 0;
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) == '\n') {
                out.add(text.substring(start, i + 1));
                start = i + 1;
            }
        }
        if (start < text.length()) {
            out.add(text.substring(start));
        }
        return out;
    }

    /** A string or an array of strings (nbformat's "multiline string"), joined. */
    static String joined(JsonNode node) {
        if (node == null || node.isNull()) {
            return "";
        }
        if (node.isTextual()) {
            return node.asText();
        }
        StringBuilder b = new StringBuilder();
        node.forEach(part -> b.append(part.asText()));
        return b.toString();
    }

    private ObjectNode cell(int index) {
        ArrayNode cells = (ArrayNode) root.get("cells");
        if (index < 0 || index >= cells.size()) {
            throw new IndexOutOfBoundsException("cell " + index + " outside [0, " + cells.size() + ")");
        }
        return (ObjectNode) cells.get(index);
    }

    /**
     * Sorted keys; text fields (source, stream text, text MIME types) as lists of lines; other MIME data (base64
     * images) as single strings, as nbformat writes them.
     */
    private static JsonNode normalised(JsonNode node, String key) {
        if (node instanceof ObjectNode object) {
            Map<String, JsonNode> sorted = new TreeMap<>();
            Iterator<Map.Entry<String, JsonNode>> fields = object.fields();
            while (fields.hasNext()) {
                Map.Entry<String, JsonNode> f = fields.next();
                sorted.put(f.getKey(), normalised(f.getValue(), f.getKey()));
            }
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            sorted.forEach(out::set);
            return out;
        }
        if (node instanceof ArrayNode array) {
            if (isMultiline(key) && allText(array)) {
                return lines(joined(array));
            }
            ArrayNode out = JsonNodeFactory.instance.arrayNode();
            array.forEach(e -> out.add(normalised(e, null)));
            return out;
        }
        if (node.isTextual() && isMultiline(key)) {
            return lines(node.asText());
        }
        if (node.isTextual() && key != null && key.startsWith("image/")) {
            return JsonNodeFactory.instance.textNode(node.asText().strip() + "\n");
        }
        return node;
    }

    private static boolean isMultiline(String key) {
        return key != null && (key.equals("source") || key.equals("text") || key.startsWith("text/"));
    }

    private static boolean allText(ArrayNode array) {
        for (JsonNode e : array) {
            if (!e.isTextual()) {
                return false;
            }
        }
        return true;
    }
}
