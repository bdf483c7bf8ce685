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

"""Starting the JVM in this process through JPype, with TokenRoute's class path and options."""

import atexit
import gc
import glob
import os
import re
import subprocess
import weakref

# The jars go on the class path, so Arrow's memory module is unnamed: naming org.apache.arrow.memory.core here would
# only make the JVM warn "Unknown module".
ARROW_OPENS = "--add-opens=java.base/java.nio=ALL-UNNAMED"
VECTOR_MODULE = "--add-modules=jdk.incubator.vector"

_EXAMPLES = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Objects with a close() that must run while the JVM is up: exports first, then sessions.
_exports = weakref.WeakSet()
_sessions = weakref.WeakSet()


def _java_home_from_java():
    """``java.home`` as the ``java`` on PATH reports it."""
    try:
        out = subprocess.run(["java", "-XshowSettings:properties", "-version"], capture_output=True, text=True,
                             timeout=60).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"^\s*java\.home = (.+)$", out, re.MULTILINE)
    return m.group(1).strip() if m else None


def find_libjvm():
    """``libjvm.so``: ``$TOKENROUTE_JVM``, else ``$JAVA_HOME/lib/server``, else the ``java`` on PATH's home."""
    explicit = os.environ.get("TOKENROUTE_JVM")
    if explicit:
        return explicit
    for home in (os.environ.get("JAVA_HOME"), _java_home_from_java()):
        if home:
            for candidate in (os.path.join(home, "lib", "server", "libjvm.so"),
                              os.path.join(home, "jre", "lib", "amd64", "server", "libjvm.so")):
                if os.path.exists(candidate):
                    return candidate
    import jpype
    return jpype.getDefaultJVMPath()


def java_home_of(libjvm):
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(libjvm))))


def has_module(java_home, module):
    """Whether the runtime at ``java_home`` contains ``module`` (from its ``release`` file; True if unknown)."""
    try:
        with open(os.path.join(java_home, "release")) as f:
            for line in f:
                if line.startswith("MODULES="):
                    return module in line.split("=", 1)[1].strip().strip('"').split()
    except OSError:
        pass
    return True


def _build_jars(examples):
    """The examples jar and its dependencies under ``examples/target`` (``mvn package`` makes them), or None."""
    target = os.path.join(examples, "target")
    own = [j for j in sorted(glob.glob(os.path.join(target, "tokenroute-examples-*.jar")))
           if not j.endswith(("-sources.jar", "-javadoc.jar", "-tests.jar"))]
    libs = sorted(glob.glob(os.path.join(target, "lib", "*.jar")))
    return own + libs if own and libs else None


def _checkouts():
    """Where a TokenRoute checkout's ``examples`` folder may be: beside this package when it runs from the checkout,
    else the current directory and its parents (an installed package runs from anywhere)."""
    if os.path.exists(os.path.join(_EXAMPLES, "pom.xml")):
        yield _EXAMPLES
    here = os.path.abspath(os.getcwd())
    while True:
        yield os.path.join(here, "examples")
        parent = os.path.dirname(here)
        if parent == here:
            return
        here = parent


def find_classpath():
    """The jars: ``$TOKENROUTE_CLASSPATH`` (os.pathsep-separated, globs allowed), else the build of the checkout this
    package runs from (``examples/target/tokenroute-examples-*.jar`` and ``examples/target/lib/*.jar``), else that of
    a checkout containing the current directory (for an installed package, ``pip install ./examples/python``)."""
    explicit = os.environ.get("TOKENROUTE_CLASSPATH")
    if explicit:
        entries = []
        for part in explicit.split(os.pathsep):
            entries += sorted(glob.glob(part)) if any(c in part for c in "*?[") else [part]
        if not entries:
            raise RuntimeError("TOKENROUTE_CLASSPATH=%r names no jar" % explicit)
        return entries
    tried = []
    for examples in _checkouts():
        if examples in tried:
            continue
        tried.append(examples)
        jars = _build_jars(examples)
        if jars:
            return jars
    raise RuntimeError("no TokenRoute jars found: build them with `mvn -B -DskipTests package` in a checkout and "
                       "run from there, or set TOKENROUTE_CLASSPATH (looked in %s)"
                       % ", ".join(os.path.join(e, "target") for e in tried))


def start_jvm(classpath=None, jvm=None, options=(), vector_api=None):
    """Starts the JVM once per process (later calls return at once); returns JPype's module.

    :param classpath: jars (default :func:`find_classpath`)
    :param jvm: path of ``libjvm.so`` (default :func:`find_libjvm`)
    :param options: extra JVM options, added to Arrow's ``--add-opens``; ``$TOKENROUTE_JVM_OPTS`` (space-separated)
        adds more
    :param vector_api: add the incubating Vector API module (faster combine; the JVM then prints "WARNING: Using
        incubator modules" when it starts); default ``$TOKENROUTE_VECTOR_API == "1"``, so that a plain run prints
        nothing
    """
    import jpype

    if jpype.isJVMStarted():
        return jpype
    libjvm = jvm or find_libjvm()
    args = [ARROW_OPENS]
    if vector_api is None:
        vector_api = os.environ.get("TOKENROUTE_VECTOR_API") == "1"
    if vector_api and has_module(java_home_of(libjvm), "jdk.incubator.vector"):
        args.append(VECTOR_MODULE)
    args += list(options) + os.environ.get("TOKENROUTE_JVM_OPTS", "").split()
    jars = list(classpath or find_classpath()) + _jpype_support_jar()
    jpype.startJVM(libjvm, *args, classpath=jars, convertStrings=False)
    # Registered after JPype's own exit handler, so it runs first, while the JVM is still up.
    atexit.register(_at_exit)
    return jpype


def _jpype_support_jar():
    """JPype's own ``org.jpype.jar`` when it is not beside ``_jpype`` (Debian's ``python3-jpype`` installs it in
    ``/usr/share/java``, where JPype 1.4 does not look): then it must be on the class path."""
    import _jpype

    if os.path.exists(os.path.join(os.path.dirname(_jpype.__file__), "org.jpype.jar")):
        return []
    debian = "/usr/share/java/org.jpype.jar"
    return [debian] if os.path.exists(debian) else []


def jclass(name):
    """A Java class by its full name (``jpype.JClass``; ``JPackage`` fails on jlink'd runtimes)."""
    import jpype
    return jpype.JClass(name)


def track(closeable):
    """Closes ``closeable`` at interpreter exit, while the JVM still runs, if it is still alive then: exports before
    sessions."""
    from .session import LocalSession

    (_sessions if isinstance(closeable, LocalSession) else _exports).add(closeable)


def _at_exit():
    """Runs before JPype destroys the JVM (registered after JPype's own handler). Closes the exports and sessions
    Python still has; a session whose exports are still held (a module-level pyarrow batch, say) stays open until
    they are released. That may happen while the interpreter tears modules down, after the JVM is gone: from the end
    of this handler on, releasing a proxy does not call into Java (:func:`tokenroute.cdata.jvm_gone`), so such late
    releases neither print Arrow Java's "Failed to release Java C Data resource" nor crash; the process is ending
    and its memory goes with it. See tests/test_bridge.py, test_interpreter_exit_is_clean.

    The JVM is destroyed as usual: leaving it running (JPype's ``destroy_jvm = False``) was seen to abort the process
    now and then at exit ("FATAL: exception not rethrown")."""
    from . import cdata

    gc.collect()
    for group in (_exports, _sessions):
        for obj in list(group):
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - exit must go on
                pass
    gc.collect()
    cdata.jvm_gone()
