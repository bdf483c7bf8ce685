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
package io.tokenroute.routing.host;

import io.tokenroute.arrow.batch.ColumnViews;
import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.protocol.PrefillEngine;
import io.tokenroute.routing.protocol.RankProtocol;
import io.tokenroute.routing.transport.InputChecks;
import java.util.List;
import java.util.function.LongUnaryOperator;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The prefill (high-throughput) mode of a {@link HostElasticBuffer}: input checks, the engine's calls, and the
 * results. The buffer's call guard and failure state wrap every call.
 */
final class HostPrefill implements AutoCloseable {
    private static final String DISPATCH = "prefillDispatch";
    private static final String COMBINE = "prefillCombine";

    private final BufferConfig config;
    private final RankProtocol protocol;
    private final PrefillEngine engine;
    private final HostPrefillDispatched dispatched;
    private final VectorSchemaRoot output;
    private final HostCombined combined;
    /** The ids the step dispatched, for the combine's routing check; one instance, so the check allocates nothing. */
    private final LongUnaryOperator dispatchedIds;

    HostPrefill(BufferConfig config, RankProtocol protocol, BufferAllocator allocator) {
        this.config = config;
        this.protocol = protocol;
        this.engine = protocol.prefill();
        this.dispatchedIds = i -> engine.routedIdx((int) i);
        this.dispatched = new HostPrefillDispatched(
                protocol, allocator, config.ranks(), config.hidden(), config.maxTopK(), config.localExperts());
        Schema schema = new Schema(List.of(
                TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, config.hidden()),
                new Field(
                        ResultViews.LOST_WEIGHT,
                        FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                        null)));
        this.output = ColumnViews.load(
                schema, allocator, config.prefillMaxTokensPerRank(), List.of(engine.outHidden(), engine.outLost()));
        this.combined = new HostCombined(
                protocol, output, engine.outHidden(), engine.outLost(), config.ranks(), config.hidden());
    }

    PrefillDispatched dispatch(TokenBatch batch, DispatchOptions options) {
        check(batch, DISPATCH);
        if (engine.stepOpen()) {
            throw new IllegalStateException("rank " + config.rank() + ": " + DISPATCH + ": prefill step "
                    + engine.step() + " is not combined yet; call prefillCombine (or cleanBuffer) first");
        }
        InputChecks.checkFp8Hidden(config.rank(), DISPATCH, options.fp8(), config.hidden());
        engine.dispatch(
                batch.numTokens(),
                batch.topK(),
                batch.hiddenAddress(),
                batch.dtype(),
                batch.topkIdxAddress(),
                batch.topkWeightsAddress(),
                options.formatCode());
        dispatched.publish(options.fp8(), options.ue8m0());
        return dispatched;
    }

    Combined combine(PrefillDispatched result, TokenBatch routing) {
        if (result != dispatched || !dispatched.isCurrent()) {
            throw InputChecks.refuse(
                    config.rank(),
                    COMBINE,
                    "needs this buffer's latest prefill dispatch result," + " not yet combined");
        }
        check(routing, COMBINE);
        InputChecks.checkCombineRouting(
                config.rank(), routing, engine.tokens(), engine.topK(), routing.topkIdxAddress(), dispatchedIds);
        dispatched.markCombined();
        engine.combine(routing.topkWeightsAddress());
        combined.publish(engine.tokens());
        return combined;
    }

    private void check(TokenBatch batch, String op) {
        InputChecks.checkBatch(
                config.rank(), op, config, batch, config.prefillMaxTokensPerRank(), "prefillMaxTokensPerRank");
        if (!batch.location().isCpuAccessible()) {
            throw InputChecks.refuse(
                    config.rank(), op, "this transport needs a host batch, got one in " + batch.location() + " memory");
        }
        InputChecks.checkExpertIds(
                config.rank(), op, config.experts(), batch.topkIdxAddress(), batch.numTokens(), batch.topK(), null);
    }

    @Override
    public void close() {
        try {
            dispatched.close();
        } finally {
            output.close();
        }
    }
}
