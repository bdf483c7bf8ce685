package io.tokenroute.examples.python;

import java.awt.image.RenderedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.function.BiConsumer;
import javax.imageio.ImageIO;

/**
 * The notebook functions {@link NotebookRunner} gives the cells it runs, with IJava's names and meaning:
 * {@code display(Object)} shows an object (images as {@code image/png}, anything else as its {@code toString}) and
 * returns a display id. Cells call the plain {@code display(...)} that both IJava and JJava define; the runner defines
 * it as a forward to {@link #display(Object)}.
 *
 * <p>Also how the runner receives the value of a cell's last expression ({@link #result(Object)}). Only one notebook
 * runs at a time per JVM (the sink is static: snippets reach this class through the application class loader).
 */
public final class NotebookDisplay {
    /** Receives (output type, MIME bundle): {@code display_data} or {@code execute_result}. */
    private static volatile BiConsumer<String, Map<String, String>> sink;

    private NotebookDisplay() {
    }

    /**
     * Shows {@code o} below the running cell, as IJava's {@code display}.
     *
     * @return a fresh display id
     * @throws IllegalStateException when no notebook is running
     */
    public static String display(Object o) {
        emit("display_data", o);
        return UUID.randomUUID().toString();
    }

    /** The value of a cell's last expression; called by the runner's hidden snippet. */
    public static void result(Object o) {
        if (o != null) {
            emit("execute_result", o);
        }
    }

    /**
     * A Jupyter MIME bundle for {@code o}: {@code image/png} (base64) plus a {@code text/plain} description for
     * images, {@code text/plain} = {@code String.valueOf(o)} for everything else.
     */
    public static Map<String, String> render(Object o) {
        Map<String, String> data = new LinkedHashMap<>();
        if (o instanceof RenderedImage image) {
            ByteArrayOutputStream png = new ByteArrayOutputStream();
            try {
                if (!ImageIO.write(image, "png", png)) {
                    throw new IllegalStateException("no PNG writer for " + image);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            data.put("image/png", Base64.getEncoder().encodeToString(png.toByteArray()));
            data.put("text/plain", "<image " + image.getWidth() + "x" + image.getHeight() + ">");
        } else {
            data.put("text/plain", String.valueOf(o));
        }
        return data;
    }

    static void attach(BiConsumer<String, Map<String, String>> newSink) {
        sink = newSink;
    }

    private static void emit(String type, Object o) {
        BiConsumer<String, Map<String, String>> s = sink;
        if (s == null) {
            throw new IllegalStateException("display() outside a running notebook");
        }
        s.accept(type, render(o));
    }
}
