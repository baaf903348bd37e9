"""Run a function in a child process with limits: ``run_limited(func, *args, memory_mb=…, cpu_seconds=…)``.

The parsers of uploaded files run there (households.register, visitplan.sheets): a file
that makes a parser allocate hundreds of GB, spin, or crash ends the child, never the web server
or the Celery worker that asked. Returns what ``func`` returned; re-raises what it raised; raises
SandboxFailed when the child hit a limit, ran out of time or died.

How:

- the child is a fresh interpreter, ``python -m core.sandbox_child``, started with subprocess: a
  Celery prefork worker is a daemonic process, and multiprocessing refuses to start children
  from one ("daemonic processes are not allowed to have children");
- the child sets its own limits before it does anything else (setrlimit in the parent, through
  preexec_fn, is unsafe in a process with threads): RLIMIT_AS (address space: an allocation past
  it fails at once, whatever the parser asked for), RLIMIT_CPU (SIGXCPU when the CPU time is
  spent) and no core dumps; the parent adds a wall-clock timeout for a child that sleeps or waits;
- ``func`` is imported by its module and name in the child, which does not set Django up: it
  must live in a module that imports no models (e.g. core/table_read.py);
- arguments and result travel as pickle files in a private temporary directory: a 200,000-row
  result is written once by the child and read once by the parent, never held in a pipe.

Measured overhead (2 CPUs shared with other work): 0.07-0.13 s for the register template (a child
that imports python-calamine), 0.3 s for a staff list (openpyxl takes 0.25 s to import), 0.2-0.3 s
for a 20,000-row register and 1.2 s for a 200,000-row one (4.4 s read in-process, 5.6 s here).
"""

import contextlib
import gc
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

# The directory holding the ``core`` package: the child imports from it whatever the cwd is.
PROJECT_DIR = Path(__file__).resolve().parent.parent
# The child's exit status when Python itself ran out of memory (MemoryError).
EXIT_MEMORY = 75
# Extra seconds of wall-clock time over the CPU limit: the child waits for a CPU on a busy machine.
WALL_MARGIN_SECONDS = 30
# What the child printed goes to the log, this much of its beginning and of its end.
OUTPUT_TAIL = 4096

MESSAGES = {
    "memory": "文件无法读取：读取时所需内存超过了 {memory_mb} MB 的上限，文件可能过于复杂，或是恶意构造的",
    "cpu": "文件无法读取：读取用时超过了 {cpu_seconds} 秒的上限，文件可能过于复杂，或是恶意构造的",
    "timeout": "文件无法读取：读取用时超过了 {timeout} 秒的上限，文件可能过于复杂，或是恶意构造的",
    "crash": "文件无法读取：读取程序异常退出（{detail}），文件可能已损坏，或是恶意构造的",
}
ADVICE = "；请在 Excel 中删除多余的工作表、格式和空行，另存为“Excel 工作簿(*.xlsx)”后再上传"


class SandboxFailed(Exception):
    """The child returned nothing: ``reason`` is "memory", "cpu", "timeout" or "crash";
    ``message`` is the sentence for the user ("文件无法读取：……")."""

    def __init__(self, reason, detail="", *, memory_mb=None, cpu_seconds=None, timeout=None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.message = (
            MESSAGES[reason].format(memory_mb=memory_mb, cpu_seconds=cpu_seconds, timeout=timeout, detail=detail)
            + ADVICE
        )

    def __reduce__(self):  # pickles (a Celery result, say) with its reason and message
        return (self.__class__, (self.reason, self.detail), self.__dict__)


def run_limited(func, *args, memory_mb, cpu_seconds, timeout=None, **kwargs):
    """``func(*args, **kwargs)`` in a child process of at most ``memory_mb`` MiB of address space
    and ``cpu_seconds`` of CPU time, waited for ``timeout`` seconds (default: the CPU limit plus
    WALL_MARGIN_SECONDS). ``func``, its arguments and its result must pickle."""
    target = f"{func.__module__}:{func.__qualname__}"
    if timeout is None:
        timeout = cpu_seconds + WALL_MARGIN_SECONDS
    limits = {"memory_mb": memory_mb, "cpu_seconds": cpu_seconds, "timeout": timeout}
    with tempfile.TemporaryDirectory(prefix="sandbox-") as directory:
        request, reply, output = (os.path.join(directory, n) for n in ("request.pickle", "reply.pickle", "output.txt"))
        with open(request, "wb") as f:
            pickle.dump((target, args, kwargs), f, protocol=pickle.HIGHEST_PROTOCOL)
        command = [sys.executable, "-P", "-m", "core.sandbox_child", str(memory_mb), str(cpu_seconds), request, reply]
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")])),
            RUST_BACKTRACE="0",  # a failed allocation prints one line, not a backtrace
        )
        with open(output, "wb") as out:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, close_fds=True)
            try:
                status = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                _log(target, "timeout", output)
                raise SandboxFailed("timeout", **limits) from None
            except BaseException:
                # Interrupted (KeyboardInterrupt, a worker's soft time limit): no orphan is left.
                child.kill()
                child.wait()
                raise
        if status == 0 and os.path.exists(reply):
            try:
                with open(reply, "rb") as f, _gc_paused():
                    outcome, value = pickle.load(f)
            except Exception as exc:  # a result or an exception the parent cannot rebuild
                _log(target, f"unreadable reply: {exc!r}", output)
                raise SandboxFailed("crash", "结果无法读取", **limits) from None
            if outcome == "returned":
                return value
            raise value
        reason, detail = _diagnose(status, output)
        _log(target, f"{reason} (exit status {status})", output)
        raise SandboxFailed(reason, detail, **limits)


@contextlib.contextmanager
def _gc_paused():
    """No garbage collection while a large result is rebuilt (millions of new objects, no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _diagnose(status, output):
    """(reason, detail for the user) of a child that exited with ``status`` without a reply."""
    if status == EXIT_MEMORY:
        return "memory", ""
    if status < 0:
        number = -status
        if number == signal.SIGXCPU:
            return "cpu", ""
        # Rust (python-calamine) aborts when an allocation fails: "memory allocation of N bytes failed".
        if number == signal.SIGABRT and b"memory allocation of" in _output(output):
            return "memory", ""
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return "crash", name
    return "crash", f"退出码 {status}"


def _output(path):
    """What the child printed: all of it, or its beginning and its end."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size <= 2 * OUTPUT_TAIL:
            return f.read()
        head = f.read(OUTPUT_TAIL)
        f.seek(size - OUTPUT_TAIL)
        return head + b"\n[...]\n" + f.read()


def _log(target, what, output):
    logger.warning("sandboxed %s: %s; output: %s", target, what, _output(output).decode(errors="replace").strip())
