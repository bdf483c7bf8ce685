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
package io.tokenroute.examples.python;

import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.stream.RecordBatchQueue;
import io.tokenroute.arrow.types.HiddenDtype;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The streams of combine outputs of a {@link LocalSession} ({@link LocalSession#streamCombined}): which rank each one
 * follows, copies of that rank's output appended after every combine, and how each ends. Used from the session's
 * caller thread only.
 */
final class CombinedStreams {
    private final BufferAllocator allocator;
    private final List<Stream> open = new ArrayList<>();

    /** One stream: the rank it follows, and whether a consumer (rather than the session) owns it now. */
    private static final class Stream {
        final int rank;
        final RecordBatchQueue queue;
        boolean exported;

        Stream(int rank, RecordBatchQueue queue) {
            this.rank = rank;
            this.queue = queue;
        }
    }

    /** @param allocator holds the copies and the reader's root; the session's exports allocator */
    CombinedStreams(BufferAllocator allocator) {
        this.allocator = allocator;
    }

    /** A new stream of {@code rank}'s combine outputs of H = {@code hidden}. */
    RecordBatchQueue open(int rank, int hidden) {
        Schema schema = new Schema(List.of(
                TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden),
                new Field(
                        "lost_weight",
                        FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                        null)));
        // Unbounded: a caller that reads on its own thread only after the steps must never block in a step.
        RecordBatchQueue queue = new RecordBatchQueue(allocator, schema, Integer.MAX_VALUE);
        open.add(new Stream(rank, queue));
        return queue;
    }

    /** From now on the stream's consumer owns it: the session only finishes it. */
    void markExported(RecordBatchQueue queue) {
        for (Stream s : open) {
            if (s.queue == queue) {
                s.exported = true;
                return;
            }
        }
        throw new IllegalArgumentException("not a stream of this session, or it ended");
    }

    /** Appends a copy of each followed rank's combine output of {@code result} (a combined, current step). */
    void append(StepResult result) {
        for (Iterator<Stream> it = open.iterator(); it.hasNext(); ) {
            Stream stream = it.next();
            if (!result.participated(stream.rank)) {
                continue;
            }
            try {
                stream.queue.putCopy(result.combined(stream.rank).batch());
            } catch (IllegalStateException e) {
                // Finished by its producer or closed by its consumer: it takes no more batches.
                it.remove();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(
                        "interrupted while appending step " + result.step() + " to a stream", e);
            }
        }
    }

    /**
     * Ends every stream: with {@code failure} when a call failed (the reader's next read reports it), else as
     * finished. A stream that was never exported is this session's to free: at the session's close
     * ({@code failure == null}), since nobody else would.
     *
     * @return failures to free a stream, for the session's close report
     */
    List<Exception> endAll(String failure) {
        List<Exception> problems = new ArrayList<>();
        for (Iterator<Stream> it = open.iterator(); it.hasNext(); ) {
            Stream stream = it.next();
            if (failure != null) {
                stream.queue.fail(failure);
                if (stream.exported) {
                    it.remove();
                }
                continue;
            }
            it.remove();
            if (stream.exported) {
                stream.queue.finish();
                continue;
            }
            try {
                stream.queue.close();
            } catch (IOException | RuntimeException e) {
                problems.add(e);
            }
        }
        return problems;
    }
}
