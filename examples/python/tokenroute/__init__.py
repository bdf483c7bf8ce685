#
# Copyright 2026 The TokenRoute Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#

"""TokenRoute from Python: the JVM in-process through JPype, results handed over without copies.

- :class:`LocalSession` runs TokenRoute's ``local`` transport (R ranks as Java threads): ``step``, ``dispatch`` /
  ``combine``, ``agree_mask``, ``readmit``.
- Results are exported through the Arrow C Data Interface: ``step.combined(r).to_pyarrow()`` (pyarrow) or
  ``.to_numpy()`` (numpy views), same buffer addresses as Java's.
- Inputs come in the same way: ``session.import_pyarrow(batch)`` / ``session.import_numpy(...)``.
- A run's outputs as one stream (Arrow C Stream Interface, IPC stream): ``session.stream_combined(rank)``.
- Device batches (C Device Data Interface) go to torch with :func:`tokenroute.device.to_torch`.
"""

from . import bf16, cdata
from ._jvm import find_classpath, find_libjvm, jclass, start_jvm
from .host import Exported
from .session import LocalSession, Step, TokenBatch, pyarrow_batch
from .stream import CombinedStream

__all__ = ["LocalSession", "Step", "TokenBatch", "Exported", "CombinedStream", "start_jvm", "jclass",
           "find_classpath", "find_libjvm", "pyarrow_batch", "bf16", "cdata"]
