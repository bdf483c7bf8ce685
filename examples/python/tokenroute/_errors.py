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

"""Java exceptions as Python ones: IllegalArgumentException -> ValueError, IllegalStateException -> RuntimeError."""

import contextlib


@contextlib.contextmanager
def java_errors():
    import jpype

    try:
        yield
    except jpype.JException as e:
        name = e.getClass().getName()
        message = str(e.getMessage())
        if name == "java.lang.IllegalArgumentException":
            raise ValueError(message) from e
        if name in ("java.lang.IllegalStateException", "java.lang.IndexOutOfBoundsException"):
            raise (IndexError if "Index" in name else RuntimeError)(message) from e
        raise
