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
package io.tokenroute.arrow.ipc;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;

/**
 * The caller's stream as Arrow's IPC writers see it: closing only flushes (the caller owns the stream), and after
 * {@link #breakOff()} nothing more reaches it. Arrow's writers write the end-of-stream marker when closed, also after a
 * failure; an incomplete stream must not end like a complete one.
 */
final class GuardedOutput extends FilterOutputStream {
    private boolean broken;

    GuardedOutput(OutputStream out) {
        super(out);
    }

    /** Drops every later write. */
    void breakOff() {
        broken = true;
    }

    @Override
    public void write(int b) throws IOException {
        if (!broken) {
            out.write(b);
        }
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        if (!broken) {
            out.write(b, off, len);
        }
    }

    @Override
    public void flush() throws IOException {
        if (!broken) {
            out.flush();
        }
    }

    @Override
    public void close() throws IOException {
        flush();
    }
}
