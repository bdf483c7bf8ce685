/**
 * The {@code shm} transport (docs/contract.md §6): the ranks of a group are processes of one host that share a memory-mapped file,
 * so the elastic protocol can be tested against real process deaths without a GPU.
 *
 * <ul>
 *   <li>{@link io.tokenroute.routing.shm.ShmGroup}: a process joins as one rank and gets its
 *       {@link io.tokenroute.routing.ElasticBuffer}; closing never waits on peers, and the last live rank deletes the
 *       file.</li>
 *   <li>{@link io.tokenroute.routing.shm.ShmMemory}: the file (header with magic, layout version, configuration
 *       fingerprint and per-rank attach words, then R page-aligned regions), as
 *       {@link io.tokenroute.routing.memory.SymmetricMemory}.</li>
 *   <li>{@link io.tokenroute.routing.shm.RankLauncher}: starts R rank processes with this JVM's binary and class path,
 *       collects their exit codes, events and results, and injects faults; the rank side is
 *       {@link io.tokenroute.routing.shm.LaunchedRank}.</li>
 *   <li>{@link io.tokenroute.routing.shm.RankFault}: a rank SIGKILLs itself ({@code kill -9 <own pid>}; no shutdown
 *       hooks run, the process is simply gone) or SIGSTOPs itself ({@code kill -STOP <own pid>}; the whole JVM
 *       freezes until the parent's SIGCONT, {@link io.tokenroute.routing.shm.RankLauncher#resume}) when it reaches a
 *       chosen phase for a chosen time.</li>
 * </ul>
 *
 * <p>Cross-process ordering needs nothing beyond what the protocol already does: {@code RankRegion}'s VarHandle
 * accesses on a direct (mapped) buffer are real CPU loads and stores with acquire/release fences (and a locked
 * instruction for the atomic ones), on pages every process of the group maps.
 */
package io.tokenroute.routing.shm;
