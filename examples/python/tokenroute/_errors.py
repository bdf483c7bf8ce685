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
