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
import io.tokenroute.device.CudaDevice;
import io.tokenroute.examples.python.DeviceTokenBatch;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Rotating sets of device-resident input batches: {@code sets.get(s).get(i)} is the batch of the i-th given rank in set
 * s, in {@code device}'s memory, uploaded and waited for. Owns the uploads; closing frees them.
 */
final class DeviceInputSets implements AutoCloseable {
    /** What rank {@code rank} dispatches in input set {@code set}. */
    interface Source {
        BenchInputs.Draw draw(int set, int rank);
    }

    final List<List<TokenBatch>> sets = new ArrayList<>();
    private final List<DeviceTokenBatch> uploads = new ArrayList<>();

    DeviceInputSets(
            BufferAllocator allocator, CudaDevice device, int sets, int[] ranks, int hidden, int topK, Source source) {
        try {
            for (int s = 0; s < sets; s++) {
                List<TokenBatch> batches = new ArrayList<>();
                for (int r : ranks) {
                    DeviceTokenBatch uploaded = BenchInputs.upload(allocator, device, source.draw(s, r), hidden, topK);
                    uploads.add(uploaded);
                    batches.add(uploaded.batch());
                }
                this.sets.add(batches);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    public void close() {
        uploads.forEach(DeviceTokenBatch::close);
        uploads.clear();
    }
}
