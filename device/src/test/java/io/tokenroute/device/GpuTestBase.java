package io.tokenroute.device;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;

/**
 * Shared set-up of the GPU tests: where there is no CUDA every test is skipped with {@link Cuda#unavailableReason()}
 * (per test rather than per class, because build tools report an aborted class as zero tests, hiding the reason);
 * otherwise device 0, the project's kernels and a stream are opened once per class, and after every test the stream
 * must be clean and no CUDA memory leaked.
 */
abstract class GpuTestBase {

    static CudaDevice device;
    static KernelModule module;
    static CudaStream stream;
    static FillKernel fill;

    @BeforeAll
    static void openDevice() {
        if (!Cuda.isAvailable()) {
            return;
        }
        device = CudaDevice.open(0);
        module = KernelModule.load(device);
        stream = CudaStream.create();
        fill = new FillKernel(module);
    }

    @BeforeEach
    void requireCudaAndMakeDeviceCurrent() {
        assumeTrue(Cuda.isAvailable(), Cuda.unavailableReason());
        device.makeCurrent();
    }

    @AfterEach
    void noErrorsAndNoLeaks() {
        if (stream == null) {
            return; // skipped: nothing was opened
        }
        stream.synchronize();
        DeviceMemoryTracker.assertNoLeaks();
    }

    @AfterAll
    static void closeDevice() {
        if (stream != null) {
            stream.close();
        }
        if (module != null) {
            module.close();
        }
        if (device != null) {
            device.close();
        }
        stream = null;
        module = null;
        device = null;
        fill = null;
    }
}
