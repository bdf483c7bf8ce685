package io.tokenroute.examples.cli;

import io.tokenroute.device.Cuda;
import io.tokenroute.examples.demo.NvshmemDemo;
import io.tokenroute.routing.launch.RankLauncher;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * The {@code --transport} option's values: the transports available on this machine (spec §6), and a clear refusal of
 * anything else. The embedded {@code local} transport always; {@code shm} (rank processes over a mapped file) where
 * signals can be sent ({@code kill}, for the ranks' real SIGKILL); {@code cuda-local} (ranks emulated on one GPU) where
 * CUDA is usable; {@code nvshmem} (one process and NVSHMEM PE per rank) where CUDA and the project's NVSHMEM library
 * are. The others are named so that asking for them says "not available" rather than "unknown".
 */
final class Transports {
    /** The transport whose ranks are emulated on one GPU ({@link io.tokenroute.examples.demo.CudaLocalDemo}). */
    static final String CUDA_LOCAL = "cuda-local";
    /** The transport whose ranks are processes and NVSHMEM PEs ({@link NvshmemDemo}). */
    static final String NVSHMEM = "nvshmem";

    /** Transports this build can run, in preference order. */
    static final List<String> AVAILABLE = available();

    /** Transports of the spec that this build does not provide (here). */
    private static final Map<String, String> NOT_YET = Map.of(
            "shm", "processes on one host over shared memory; needs the kill command",
            CUDA_LOCAL, "streams of one process on one GPU",
            NVSHMEM, "one process per GPU over NVSHMEM");

    private Transports() {
    }

    private static List<String> available() {
        List<String> out = new ArrayList<>(List.of("local"));
        if (RankLauncher.signalsAvailable()) {
            out.add("shm");
        }
        if (Cuda.isAvailable()) {
            out.add(CUDA_LOCAL);
        }
        if (NvshmemDemo.available()) {
            out.add(NVSHMEM);
        }
        return List.copyOf(out);
    }

    /** Completion candidates, shown in the help as {@code ${COMPLETION-CANDIDATES}}. */
    static final class Candidates implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return AVAILABLE.iterator();
        }
    }

    /** Accepts an available transport, refuses the rest naming the available ones (and, for the GPU ones, why). */
    static final class Converter implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            if (AVAILABLE.contains(value)) {
                return value;
            }
            String available = String.join(", ", AVAILABLE);
            String planned = NOT_YET.get(value);
            if (planned != null) {
                String why = value.equals(CUDA_LOCAL) ? ": " + Cuda.unavailableReason()
                        : value.equals(NVSHMEM) ? ": " + NvshmemDemo.unavailableReason() : "";
                throw new TypeConversionException("transport '" + value + "' (" + planned
                        + ") is not available on this machine" + why + "; available: " + available);
            }
            throw new TypeConversionException("unknown transport '" + value + "'; available on this machine: "
                    + available);
        }
    }
}
