"""Starting the JVM in this process through JPype, with TokenRoute's class path and options."""

import atexit
import gc
import glob
import os
import re
import subprocess
import weakref

ARROW_OPENS = "--add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED"
VECTOR_MODULE = "--add-modules=jdk.incubator.vector"

_EXAMPLES = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


def find_classpath():
    """The jars: ``$TOKENROUTE_CLASSPATH`` (os.pathsep-separated, globs allowed), else this checkout's
    ``examples/target/tokenroute-examples-*.jar`` and ``examples/target/lib/*.jar`` (``mvn package`` makes them)."""
    explicit = os.environ.get("TOKENROUTE_CLASSPATH")
    if explicit:
        entries = []
        for part in explicit.split(os.pathsep):
            entries += sorted(glob.glob(part)) if any(c in part for c in "*?[") else [part]
        return entries
    target = os.path.join(_EXAMPLES, "target")
    own = [j for j in sorted(glob.glob(os.path.join(target, "tokenroute-examples-*.jar")))
           if not j.endswith(("-sources.jar", "-javadoc.jar", "-tests.jar"))]
    libs = sorted(glob.glob(os.path.join(target, "lib", "*.jar")))
    if not own or not libs:
        raise RuntimeError("no TokenRoute jars under %s: build them with `mvn -B -DskipTests install` (or set "
                           "TOKENROUTE_CLASSPATH)" % target)
    return own + libs


def start_jvm(classpath=None, jvm=None, options=()):
    """Starts the JVM once per process (later calls return at once); returns JPype's module.

    :param classpath: jars (default :func:`find_classpath`)
    :param jvm: path of ``libjvm.so`` (default :func:`find_libjvm`)
    :param options: extra JVM options, added to Arrow's ``--add-opens`` and (when present) the vector module;
        ``$TOKENROUTE_JVM_OPTS`` (space-separated) adds more
    """
    import jpype

    if jpype.isJVMStarted():
        return jpype
    libjvm = jvm or find_libjvm()
    args = [ARROW_OPENS]
    if has_module(java_home_of(libjvm), "jdk.incubator.vector"):
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


def track(session):
    _sessions.add(session)


def _at_exit():
    """Closes the sessions Python still has. A session whose exports are still held (a module-level pyarrow batch, say)
    stays open until they are released, which may happen while the interpreter tears modules down after this, when
    the JVM is already destroyed: such a late release returns without effect (the process is ending anyway), see
    tests/test_bridge.py test_interpreter_exit_with_a_live_view.

    The JVM is destroyed as usual: leaving it running (JPype's ``destroy_jvm = False``) was seen to abort the process
    now and then at exit ("FATAL: exception not rethrown")."""
    gc.collect()
    for s in list(_sessions):
        try:
            s.close()
        except Exception:  # noqa: BLE001 - exit must go on
            pass
