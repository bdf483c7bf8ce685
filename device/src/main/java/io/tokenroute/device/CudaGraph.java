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
package io.tokenroute.device;

import static org.bytedeco.cuda.global.cudart.cudaGraphDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphExecDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphInstantiate;
import static org.bytedeco.cuda.global.cudart.cudaGraphLaunch;
import static org.bytedeco.cuda.global.cudart.cudaStreamBeginCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamEndCapture;

import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;

/**
 * An instantiated CUDA graph ({@code cudaGraphExec_t}) recorded by stream capture: the queued work of a step, replayed
 * with one launch. Kernel arguments are frozen at capture, so only work whose per-step state lives in device memory
 * (as the elastic EP kernels' sequence numbers do) can be replayed step after step.
 *
 * <p>Capture uses {@code cudaStreamCaptureModeThreadLocal}: other threads may keep using CUDA meanwhile. Work on other
 * streams joins the capture when those streams wait on an event recorded on the origin stream during the capture, and
 * must be joined back (the origin waits on events recorded on them) before the capture ends.
 */
public final class CudaGraph implements AutoCloseable {
    /** {@code cudaStreamCaptureModeThreadLocal}. */
    private static final int CAPTURE_THREAD_LOCAL = 1;

    private final CUgraph_st graph;
    private final CUgraphExec_st exec;
    private boolean closed;

    private CudaGraph(CUgraph_st graph, CUgraphExec_st exec) {
        this.graph = graph;
        this.exec = exec;
    }

    /**
     * Captures what {@code work} queues on {@code origin} (and on streams forked from it) into a graph and
     * instantiates it. Nothing runs on the device during the capture.
     *
     * @param origin the stream the capture starts and ends on
     * @param work queues the work; must join every forked stream back into {@code origin}
     * @return the graph; the caller closes it
     * @throws CudaException if capture or instantiation fails (e.g. an operation that cannot be captured)
     */
    public static CudaGraph capture(CudaStream origin, Runnable work) {
        Cuda.requireAvailable("CudaGraph.capture");
        CudaException.check(cudaStreamBeginCapture(origin.handle(), CAPTURE_THREAD_LOCAL), "cudaStreamBeginCapture");
        CUgraph_st graph = new CUgraph_st();
        try {
            work.run();
        } catch (RuntimeException | Error e) {
            cudaStreamEndCapture(origin.handle(), graph);
            if (graph.address() != 0) {
                cudaGraphDestroy(graph);
            }
            throw e;
        }
        CudaException.check(cudaStreamEndCapture(origin.handle(), graph), "cudaStreamEndCapture");
        CUgraphExec_st exec = new CUgraphExec_st();
        int rc = cudaGraphInstantiate(exec, graph, 0L);
        if (rc != 0) {
            cudaGraphDestroy(graph);
            CudaException.check(rc, "cudaGraphInstantiate");
        }
        return new CudaGraph(graph, exec);
    }

    /** Queues one replay of the graph on {@code stream}; allocates nothing. */
    public void launch(CudaStream stream) {
        if (closed) {
            throw new IllegalStateException("CudaGraph is closed");
        }
        int rc = cudaGraphLaunch(exec, stream.handle());
        if (rc != 0) {
            CudaException.check(rc, "cudaGraphLaunch");
        }
    }

    /** Destroys the executable graph and the graph; later calls do nothing. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        CudaException.check(cudaGraphExecDestroy(exec), "cudaGraphExecDestroy");
        CudaException.check(cudaGraphDestroy(graph), "cudaGraphDestroy");
    }
}
