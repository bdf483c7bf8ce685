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
package io.tokenroute.routing.placement;

/**
 * One weight load an engine has to perform after a replan: physical slot {@code physicalSlot} now hosts logical expert
 * {@code logical} and did not host it before (see {@link ExpertPlacement#movesFrom}).
 *
 * <p>The slot lives on rank {@code physicalSlot / slotsPerRank} at local index {@code physicalSlot % slotsPerRank}.
 * {@code fromRank} only says where the expert lived before; that rank may be dead, so engines load the weights from
 * their own copy (checkpoint, host memory or a surviving replica), not necessarily from {@code fromRank}.
 *
 * @param logical the logical expert id, {@code [0, logicalExperts)}
 * @param physicalSlot the physical slot that must receive the weights, {@code [0, physicalExperts)}
 * @param fromRank the rank of the previous placement's lowest slot hosting {@code logical}, or {@code -1} when the
 *     previous placement did not host it at all (newly hosted)
 */
public record ExpertMove(int logical, int physicalSlot, int fromRank) {}
