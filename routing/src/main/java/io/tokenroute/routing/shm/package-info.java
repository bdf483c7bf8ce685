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
/**
 * The {@code shm} transport (docs/contract.md §6): the ranks of a group are processes of one host that share a
 * memory-mapped file, so the elastic protocol can be tested against real process deaths without a GPU.
 *
 * <ul>
 *   <li>{@link io.tokenroute.routing.shm.ShmGroup}: a process joins as one rank and gets its
 *       {@link io.tokenroute.routing.ElasticBuffer}; closing never waits on peers, and the last live rank deletes the
 *       file.</li>
 *   <li>{@link io.tokenroute.routing.shm.ShmMemory}: the file (header with magic, layout version, configuration
 *       fingerprint and per-rank attach words, then R page-aligned regions), as
 *       {@link io.tokenroute.routing.memory.SymmetricMemory}.</li>
 *   <li>{@link io.tokenroute.routing.shm.Processes}: process identity and liveness (pid plus start time) as the attach
 *       words record them.</li>
 * </ul>
 *
 * <p>Starting rank processes and injecting faults into them is the concern of {@code io.tokenroute.routing.launch},
 * which builds on this package; private files are {@link io.tokenroute.routing.security}'s.
 *
 * <p>Cross-process ordering needs nothing beyond what the protocol already does: {@code RankRegion}'s VarHandle
 * accesses on a direct (mapped) buffer are real CPU loads and stores with acquire/release fences (and a locked
 * instruction for the atomic ones), on pages every process of the group maps.
 */
package io.tokenroute.routing.shm;
