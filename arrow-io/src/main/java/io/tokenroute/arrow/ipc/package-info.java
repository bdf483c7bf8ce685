/**
 * Token batches as Arrow IPC files and streams ({@link io.tokenroute.arrow.ipc.TokenBatchIpc}), host memory only.
 */
package io.tokenroute.arrow.ipc;
