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
 * Who may join a group (docs/contract.md §8), in the pieces every process-level transport and the launcher share:
 * {@link io.tokenroute.routing.security.PrivateFiles} (files only their owner, or one named Unix group, may read or
 * write: {@code shm} group files, job-secret files) and {@link io.tokenroute.routing.security.JobSecret} (the
 * per-job secret the {@code nvshmem} rendezvous authenticates with, as launchers hand it to ranks). Depends on no
 * other package of the library.
 */
package io.tokenroute.routing.security;
