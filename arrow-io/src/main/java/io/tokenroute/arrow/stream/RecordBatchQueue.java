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
package io.tokenroute.arrow.stream;

import io.tokenroute.arrow.types.TokenRouteTypes;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.VectorSchemaRootAppender;

/**
 * An {@link ArrowReader} over record batches that a producer hands in one at a time (the outputs of successive routing
 * steps, say) and a consumer reads in order: through the Arrow C Stream Interface
 * ({@link io.tokenroute.arrow.cdata.HostExport#exportStream}, e.g. into {@code pyarrow.RecordBatchReader}), as an Arrow
 * IPC stream ({@link io.tokenroute.arrow.ipc.IpcStreams#copy}), or directly with {@link #loadNextBatch()}.
 *
 * <p><b>Producer side</b> (any one thread): {@link #put} hands over the buffers of a root by reference, without a copy;
 * {@link #putCopy} copies the rows first, for roots whose memory is reused (TokenRoute's dispatch and combine results
 * are views of the group's buffers, which the next step overwrites). {@link #finish()} ends the stream after the
 * queued batches; {@link #fail} ends it with an error that the consumer's next read reports. {@link #put} and
 * {@link #putCopy} wait while {@code capacity} batches are queued and unread.
 *
 * <p><b>Consumer side</b> (any one thread): {@link #loadNextBatch()} waits for the next batch and loads it into
 * {@link #getVectorSchemaRoot()}, or returns false at the end; it throws an {@link IOException} after {@link #fail}.
 *
 * <p><b>Ownership.</b> Each queued batch holds its own references to its buffers: the producer keeps its root and may
 * close it right after the call. Loading a batch moves those references into the reader's root, and a C Data consumer
 * takes references of its own, so an exported batch stays readable after the next one is loaded, until the consumer
 * releases it. {@link #close()} (the consumer's, or the stream export's release) frees the batches still queued;
 * a later {@link #put} then frees what it was given and throws. Schema: fixed at construction; every batch must have
 * the same columns, types and extension types (child field names may differ, as they do in Arrow's slices).
 */
public final class RecordBatchQueue extends ArrowReader {
    private final Schema schema;
    private final int capacity;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition notEmpty = lock.newCondition();
    private final Condition notFull = lock.newCondition();
    private final ArrayDeque<ArrowRecordBatch> queued = new ArrayDeque<>();
    private boolean finished;
    private String failure;
    private boolean closed;
    private long bytesRead;

    /**
     * A queue of batches of {@code schema}.
     *
     * @param allocator allocates the reader's root and the copies of {@link #putCopy}; it must outlive this queue
     *     and every batch a consumer still holds
     * @param capacity how many unread batches may wait before {@link #put} blocks; at least 1
     */
    public RecordBatchQueue(BufferAllocator allocator, Schema schema, int capacity) {
        super(allocator);
        TokenRouteTypes.register();
        this.schema = Objects.requireNonNull(schema, "schema");
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
        }
        this.capacity = capacity;
    }

    /** The stream's schema. */
    public Schema schema() {
        return schema;
    }

    /**
     * Queues {@code batch}'s rows by reference (no copy). Its buffers must keep their contents until the consumer has
     * released the batch; use {@link #putCopy} for views of memory that will be overwritten.
     *
     * @param batch a host root with this queue's schema; it stays the caller's
     * @throws IllegalArgumentException if the columns differ from the schema
     * @throws IllegalStateException after {@link #finish}, {@link #fail} or {@link #close}
     * @throws InterruptedException if interrupted while the queue was full (nothing was queued)
     */
    public void put(VectorSchemaRoot batch) throws InterruptedException {
        requireSchema(batch);
        enqueue(new VectorUnloader(batch).getRecordBatch());
    }

    /**
     * Queues a copy of {@code batch}'s rows, in memory of this queue's allocator: the producer may overwrite or close
     * the original right after the call. One copy per batch; everything downstream is zero-copy.
     *
     * @see #put
     */
    public void putCopy(VectorSchemaRoot batch) throws InterruptedException {
        requireSchema(batch);
        ArrowRecordBatch record;
        try (VectorSchemaRoot copy = VectorSchemaRoot.create(schema, allocator)) {
            // VectorAppender compares types, not field names; the schema was checked above.
            VectorSchemaRootAppender.append(false, copy, batch);
            record = new VectorUnloader(copy).getRecordBatch();
        }
        enqueue(record);
    }

    /** Ends the stream after the batches already queued. Idempotent. */
    public void finish() {
        lock.lock();
        try {
            finished = true;
            notEmpty.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Ends the stream with an error: after the queued batches, the consumer's next read throws an {@link IOException}
     * with {@code reason} (a C Stream consumer gets it from {@code get_last_error}).
     */
    public void fail(String reason) {
        lock.lock();
        try {
            if (!finished) {
                failure = Objects.requireNonNull(reason, "reason");
                finished = true;
            }
            notEmpty.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Batches queued and not yet read. */
    public int queuedBatches() {
        lock.lock();
        try {
            return queued.size();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits for the next batch and loads it into {@link #getVectorSchemaRoot()}.
     *
     * @return false once the stream finished and every batch was read
     * @throws IOException after {@link #fail}, or if interrupted while waiting
     */
    @Override
    public boolean loadNextBatch() throws IOException {
        prepareLoadNextBatch();
        ArrowRecordBatch next;
        lock.lock();
        try {
            while (queued.isEmpty() && !finished && !closed) {
                notEmpty.await();
            }
            if (closed) {
                throw new IOException("the record batch queue was closed");
            }
            next = queued.poll();
            if (next == null) {
                if (failure != null) {
                    throw new IOException(failure);
                }
                return false;
            }
            notFull.signal();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the next record batch", e);
        } finally {
            lock.unlock();
        }
        bytesRead += next.computeBodyLength();
        loadRecordBatch(next);
        return true;
    }

    /** Body bytes of the batches loaded so far. */
    @Override
    public long bytesRead() {
        return bytesRead;
    }

    /** Frees the batches still queued; producers waiting in {@link #put} fail. */
    @Override
    protected void closeReadSource() {
        lock.lock();
        try {
            closed = true;
            queued.forEach(ArrowRecordBatch::close);
            queued.clear();
            notFull.signalAll();
            notEmpty.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    protected Schema readSchema() {
        return schema;
    }

    private void enqueue(ArrowRecordBatch record) throws InterruptedException {
        lock.lock();
        try {
            while (queued.size() >= capacity && !closed) {
                notFull.await();
            }
            if (closed || finished) {
                throw new IllegalStateException(
                        "the record batch queue is " + (closed ? "closed" : "finished") + ": no more batches");
            }
            queued.add(record);
            record = null;
            notEmpty.signal();
        } finally {
            lock.unlock();
            if (record != null) {
                record.close();
            }
        }
    }

    private void requireSchema(VectorSchemaRoot batch) {
        List<Field> want = schema.getFields();
        List<Field> got = batch.getSchema().getFields();
        boolean same = want.size() == got.size();
        for (int i = 0; same && i < want.size(); i++) {
            same = want.get(i).getName().equals(got.get(i).getName()) && sameTypes(want.get(i), got.get(i));
        }
        if (!same) {
            throw new IllegalArgumentException(
                    "batch schema " + batch.getSchema() + " differs from the stream's " + schema);
        }
    }

    private static boolean sameTypes(Field a, Field b) {
        if (!a.getType().equals(b.getType())
                || a.getChildren().size() != b.getChildren().size()) {
            return false;
        }
        for (int i = 0; i < a.getChildren().size(); i++) {
            if (!sameTypes(a.getChildren().get(i), b.getChildren().get(i))) {
                return false;
            }
        }
        return true;
    }
}
