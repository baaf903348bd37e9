"""The child of core.sandbox.run_limited: ``python -m core.sandbox_child MEMORY_MB CPU_SECONDS REQUEST REPLY``.

Steps: set the limits (before anything the request could make large); load (module:name, args,
kwargs) from REQUEST; import and call the function; write ("returned", value) or ("raised",
exception) to REPLY; leave at once. A MemoryError exits with EXIT_MEMORY instead (there may be no
memory left to report it); a signal (SIGXCPU, SIGABRT from Rust's failed allocation, SIGSEGV)
ends the process, and the parent reads the reason from the exit status.
"""

import importlib
import os
import pickle
import resource
import sys
import traceback

from core.sandbox import EXIT_MEMORY

# Seconds between SIGXCPU (the soft CPU limit) and SIGKILL (the hard one), for a child that
# ignores SIGXCPU.
CPU_GRACE_SECONDS = 5


def set_limits(memory_mb, cpu_seconds):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    size = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + CPU_GRACE_SECONDS))


def load(target):
    module, _, name = target.partition(":")
    found = importlib.import_module(module)
    for attribute in name.split("."):
        found = getattr(found, attribute)
    return found


def write(f, outcome):
    """Pickle the outcome to ``f``. A returned value is pickled without the memo first (six times
    faster for 200,000 rows of cells; it cannot hold a cycle then), else as usual."""
    kind, value = outcome
    for fast in (kind == "returned", False):
        f.seek(0)
        f.truncate()
        try:
            pickler = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
            pickler.fast = fast
            pickler.dump(outcome)
            return
        except MemoryError:
            raise
        except Exception as exc:
            problem = exc
    # Neither pickles: its text still goes back.
    what = f"{type(value).__name__}: {value}" if kind == "raised" else f"the result does not pickle: {problem}"
    f.seek(0)
    f.truncate()
    pickle.dump(("raised", RuntimeError(what)), f, protocol=pickle.HIGHEST_PROTOCOL)


def main(argv):
    memory_mb, cpu_seconds, request, reply = int(argv[1]), int(argv[2]), argv[3], argv[4]
    set_limits(memory_mb, cpu_seconds)
    try:
        with open(request, "rb") as f:
            target, args, kwargs = pickle.load(f)
        outcome = ("returned", load(target)(*args, **kwargs))
    except MemoryError:
        os._exit(EXIT_MEMORY)
    except Exception as exc:
        exc.add_note("in the sandbox child:\n" + traceback.format_exc())
        outcome = ("raised", exc)
    try:
        with open(reply, "wb") as f:
            write(f, outcome)
    except MemoryError:
        os._exit(EXIT_MEMORY)
    sys.stdout.flush()
    sys.stderr.flush()
    # No interpreter teardown: freeing a large result object by object would only cost time.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
