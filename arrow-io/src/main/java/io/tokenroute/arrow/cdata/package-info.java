/**
 * Zero-copy hand-off of record batches through the Arrow C Data Interface (host,
 * {@link io.tokenroute.arrow.cdata.HostExport}) and the Arrow C Device Data Interface (any memory,
 * {@link io.tokenroute.arrow.cdata.DeviceExport}), with readers of the C structs
 * ({@link io.tokenroute.arrow.cdata.ArrowArrayView}, {@link io.tokenroute.arrow.cdata.DeviceArrayView}).
 *
 * <p>Ownership in one line: the producer closes its {@code Exported*} object after the consumer imported; the consumer
 * releases what it imported; whoever holds a struct with a non-NULL {@code release} is the one who must call it, once.
 */
package io.tokenroute.arrow.cdata;
