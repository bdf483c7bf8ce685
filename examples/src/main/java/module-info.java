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
 * The {@code tokenroute} command line (demo, route, plot, bench), the JMH benchmarks and the Python bridge's Java side.
 * An application: it exports nothing. Picocli reads the command classes reflectively, hence the opens.
 */
module io.tokenroute.examples {
    requires io.tokenroute.routing;
    requires info.picocli;
    requires me.tongfei.progressbar;
    requires org.knowm.xchart;
    requires java.desktop;
    requires jmh.core;
    requires jdk.incubator.vector;

    opens io.tokenroute.examples.cli to
            info.picocli;
}
