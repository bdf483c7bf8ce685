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
package io.tokenroute.examples.cli;

import io.tokenroute.examples.demo.DemoTransport;
import io.tokenroute.routing.TransportSpec;
import java.util.Iterator;
import java.util.List;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * The {@code --transport} option's values: the transports available on this machine ({@link DemoTransport}), and one
 * clear line for anything else, naming what is missing for a transport this machine lacks. {@code demo} takes a name
 * ({@link Name}: it chooses the group file and the GPU itself); {@code route} takes what
 * {@link io.tokenroute.routing.ElasticGroup#open} takes ({@link Spec}: {@code shm:NAME}, {@code cuda-local:DEVICE},
 * ...).
 */
final class Transports {
    /** Transports this machine can run, in preference order. */
    static final List<String> AVAILABLE =
            DemoTransport.available().stream().map(DemoTransport::id).toList();

    private Transports() {}

    /** Completion candidates, shown in the help as {@code ${COMPLETION-CANDIDATES}}. */
    static final class Candidates implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return AVAILABLE.iterator();
        }
    }

    /**
     * Accepts the name of a known transport; whether this machine runs it is checked by the command
     * ({@link #unavailableReason}), after what the other options say about it (a mode the transport does not run).
     */
    static final class Name implements ITypeConverter<DemoTransport> {
        @Override
        public DemoTransport convert(String value) {
            if (value.contains(":")) {
                throw new TypeConversionException(
                        "--transport takes a transport name here (" + String.join(", ", AVAILABLE) + "), got '" + value
                                + "': the demo chooses the group file and the GPU itself");
            }
            return known(value);
        }
    }

    /** Accepts {@code NAME[:ARGUMENT]} of an available transport ({@link TransportSpec#parse}). */
    static final class Spec implements ITypeConverter<TransportSpec> {
        @Override
        public TransportSpec convert(String value) {
            int colon = value.indexOf(':');
            String reason = unavailableReason(known(colon < 0 ? value : value.substring(0, colon)));
            if (reason != null) {
                throw new TypeConversionException(reason);
            }
            try {
                return TransportSpec.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /**
     * Null if this machine runs {@code transport}; else the refusal, naming what is missing and what is available.
     */
    static String unavailableReason(DemoTransport transport) {
        if (transport.isAvailable()) {
            return null;
        }
        return "transport '" + transport.id() + "' (" + transport.description() + ") is not available on this machine: "
                + transport.unavailableReason() + "; available: " + String.join(", ", AVAILABLE);
    }

    /** The transport named {@code name}, or the refusal naming the transports this machine runs. */
    private static DemoTransport known(String name) {
        try {
            return DemoTransport.of(name);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(
                    "unknown transport '" + name + "'; available on this machine: " + String.join(", ", AVAILABLE));
        }
    }
}
