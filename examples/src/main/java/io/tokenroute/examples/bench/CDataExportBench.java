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

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.cdata.ArrowArrayView;
import io.tokenroute.arrow.cdata.ExportedBatch;
import io.tokenroute.arrow.cdata.HostExport;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.HiddenDtype;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Time to export a host token batch through the Arrow C Data Interface and release it (the producer's close when no
 * consumer took it: the same release callback a consumer would call), for a 1 MiB and a 256 MiB bf16 batch
 * (H = 7168, k = 8; sizes count the hidden data), and to import a sliced one. docs/contract.md §5: export cost does
 * not grow with batch size, and imports honour offsets.
 *
 * <ul>
 *   <li>{@code tokenBatch}: {@link HostExport#export(BufferAllocator, TokenBatch)}, null counts known to be 0;</li>
 *   <li>{@code scanningNullCounts}: {@code HostExport.export(allocator, root)}, exact null counts from the validity
 *       bitmaps, as for arbitrary record batches;</li>
 *   <li>{@code arrowDefault}: Arrow Java's own {@code Data.exportVectorSchemaRoot}, for reference;</li>
 *   <li>{@code slicedImport}: the {@code tokenBatch} export rewritten to describe the middle half of the rows as a
 *       sliced {@code pyarrow.RecordBatch} exports them (columns at an offset, a multiple of 8 rows), then
 *       {@link HostExport#importBatch} and the release of both: the import cost is the difference to
 *       {@code tokenBatch};</li>
 *   <li>{@code slicedImportWithoutBitmaps}: the same with the validity pointers set to NULL, as pyarrow exports
 *       arrays without nulls: Arrow Java then allocates an all-valid bitmap per vector.</li>
 * </ul>
 *
 * <p>Run (after {@code mvn -q -B -pl examples -am package -DskipTests}):
 * {@code java --add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED -cp
 * "examples/target/tokenroute-examples-0.1.0-SNAPSHOT.jar:examples/target/lib/*" org.openjdk.jmh.Main
 * CDataExportBench -f 1 -wi 2 -i 3 -w 1 -r 1}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
public class CDataExportBench {
    private static final int HIDDEN = 7168;
    private static final int TOP_K = 8;

    /** Size of the hidden data in MiB. */
    @Param({"1", "256"})
    public int sizeMiB;

    private BufferAllocator allocator;
    private TokenBatch batch;
    /** The sliced imports' rows: {@code [first, first + rows)}, the middle half, starting at a multiple of 8. */
    private int first;

    private int rows;

    /** Builds the batch over buffers filled with a non-zero pattern (no Java array of the batch's size). */
    @Setup(Level.Trial)
    public void setUp() {
        allocator = new RootAllocator();
        int n = (int) (((long) sizeMiB << 20) / (2L * HIDDEN));
        try (ArrowBuf h = allocator.buffer((long) n * HIDDEN * 2);
                ArrowBuf idx = allocator.buffer(8L * n * TOP_K);
                ArrowBuf w = allocator.buffer(4L * n * TOP_K)) {
            MemoryUtil.setMemory(h.memoryAddress(), h.capacity(), (byte) 0x3c);
            MemoryUtil.setMemory(idx.memoryAddress(), idx.capacity(), (byte) 0x01);
            MemoryUtil.setMemory(w.memoryAddress(), w.capacity(), (byte) 0x3e);
            batch = TokenBatch.fromBuffers(
                    allocator, MemoryLocation.HOST, HiddenDtype.BF16, n, HIDDEN, TOP_K, h, idx, w);
        }
        first = n / 4 / 8 * 8;
        rows = n / 2;
    }

    /** Frees the batch; the allocator's close fails the run if an export leaked. */
    @TearDown(Level.Trial)
    public void tearDown() {
        batch.close();
        allocator.close();
    }

    /** Export of a token batch plus release. */
    @Benchmark
    public long tokenBatch() {
        try (ExportedBatch exported = HostExport.export(allocator, batch)) {
            return exported.arrayAddress();
        }
    }

    /** Export with null counts scanned from the validity bitmaps, plus release. */
    @Benchmark
    public long scanningNullCounts() {
        try (ExportedBatch exported = HostExport.export(allocator, batch.root())) {
            return exported.arrayAddress();
        }
    }

    /** Arrow Java's {@code Data.exportVectorSchemaRoot} plus release, for reference. */
    @Benchmark
    public long arrowDefault() {
        try (ArrowArray array = ArrowArray.allocateNew(allocator);
                ArrowSchema schema = ArrowSchema.allocateNew(allocator)) {
            Data.exportVectorSchemaRoot(allocator, batch.root(), null, array, schema);
            array.release();
            schema.release();
            return array.memoryAddress();
        }
    }

    /** Export, the export rewritten as a slice, import of the slice, release of both. */
    @Benchmark
    public long slicedImport() {
        return importSlice(false);
    }

    /** As {@link #slicedImport()}, the exported arrays without validity bitmaps. */
    @Benchmark
    public long slicedImportWithoutBitmaps() {
        return importSlice(true);
    }

    private long importSlice(boolean withoutBitmaps) {
        try (ExportedBatch exported = HostExport.export(allocator, batch)) {
            long struct = exported.arrayAddress();
            MemoryUtil.putLong(struct + ArrowArrayView.LENGTH_OFFSET, rows);
            ArrowArrayView view = ArrowArrayView.at(struct);
            for (int c = 0; c < view.childCount(); c++) {
                long column = view.child(c).address();
                MemoryUtil.putLong(column + ArrowArrayView.OFFSET_OFFSET, first);
                MemoryUtil.putLong(column + ArrowArrayView.LENGTH_OFFSET, rows);
                if (withoutBitmaps) {
                    // Arrow Java's release callback does not read the buffer pointers: they may be rewritten.
                    MemoryUtil.putLong(view.child(c).buffersAddress(), 0);
                    MemoryUtil.putLong(view.child(c).child(0).buffersAddress(), 0);
                }
            }
            try (TokenBatch imported = HostExport.importBatch(allocator, struct, exported.schemaAddress())) {
                return imported.hiddenAddress();
            }
        }
    }
}
