"""core.sandbox: a child that hits its memory or CPU limit, runs out of time or crashes becomes
SandboxFailed with a sentence for the user, and this process goes on; results and exceptions
come back as they were; it works from a daemonic process (a Celery prefork worker)."""

import datetime
import multiprocessing
import os

import pytest

from core.sandbox import SandboxFailed, run_limited
from core.tests import sandbox_targets as targets

LIMITS = {"memory_mb": 512, "cpu_seconds": 10}


def test_it_returns_what_the_function_returned():
    rows = run_limited(targets.rows, 20_000, **LIMITS)
    assert len(rows) == 20_000
    assert rows[7] == ["第7行", 7, 3.5, datetime.date(2026, 12, 1), None, True]


def test_it_runs_the_function_in_a_child_without_django():
    args, kwargs, django_loaded = run_limited(targets.echo, 1, "二", three=3, **LIMITS)
    assert (args, kwargs) == ((1, "二"), {"three": 3})
    assert not django_loaded
    assert run_limited(os.getpid, **LIMITS) != os.getpid()


def test_it_raises_what_the_function_raised():
    with pytest.raises(LookupError, match="没有这一行") as caught:
        run_limited(targets.fail, "没有这一行", **LIMITS)
    assert any("in the sandbox child" in note for note in caught.value.__notes__)


def test_a_result_that_does_not_pickle_is_an_error():
    with pytest.raises(RuntimeError, match="does not pickle"):
        run_limited(targets.unpicklable, **LIMITS)


def test_the_memory_limit_ends_the_child():
    with pytest.raises(SandboxFailed) as caught:
        run_limited(targets.allocate, 4096, memory_mb=256, cpu_seconds=10)
    assert caught.value.reason == "memory"
    assert caught.value.message.startswith("文件无法读取：读取时所需内存超过了 256 MB 的上限")
    assert run_limited(targets.allocate, 16, memory_mb=256, cpu_seconds=10) == 16 << 20  # and on it goes


def test_a_parser_asking_for_549_gb_ends_only_the_child(tmp_path):
    """python-calamine aborts the process when an allocation fails (Rust): the child's."""
    path = tmp_path / "far.xlsx"
    path.write_bytes(targets.far_cell_workbook())
    with pytest.raises(SandboxFailed) as caught:
        run_limited(targets.read_with_calamine, str(path), **LIMITS)
    assert caught.value.reason == "memory"


def test_the_cpu_limit_ends_the_child():
    with pytest.raises(SandboxFailed) as caught:
        run_limited(targets.spin, memory_mb=256, cpu_seconds=1)
    assert caught.value.reason == "cpu"
    assert caught.value.message.startswith("文件无法读取：读取用时超过了 1 秒的上限")


def test_a_child_that_waits_is_ended_after_the_timeout():
    with pytest.raises(SandboxFailed) as caught:
        run_limited(targets.sleep, 60, memory_mb=256, cpu_seconds=10, timeout=1)
    assert caught.value.reason == "timeout"
    assert "超过了 1 秒的上限" in caught.value.message


@pytest.mark.parametrize("crash, signal_name", [(targets.abort, "SIGABRT"), (targets.segfault, "SIGSEGV")])
def test_a_crash_ends_only_the_child(crash, signal_name):
    with pytest.raises(SandboxFailed) as caught:
        run_limited(crash, **LIMITS)
    assert caught.value.reason == "crash"
    assert caught.value.message.startswith(f"文件无法读取：读取程序异常退出（{signal_name}）")


def _from_a_daemon(queue):
    process = multiprocessing.current_process()
    try:
        multiprocessing.Process(target=os.getpid).start()
    except AssertionError as exc:  # what multiprocessing says in a daemonic process
        refused = str(exc)
    try:
        queue.put((process.daemon, refused, run_limited(targets.rows, 3, **LIMITS)))
    except Exception as exc:
        queue.put((process.daemon, refused, repr(exc)))


def test_it_works_from_a_daemonic_process():
    """A Celery prefork worker is daemonic: multiprocessing may not start a child there, this may."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    daemon = context.Process(target=_from_a_daemon, args=(queue,), daemon=True)
    daemon.start()
    is_daemon, refused, result = queue.get(timeout=60)
    daemon.join(timeout=10)
    assert is_daemon
    assert "daemonic processes are not allowed to have children" in refused
    assert result == targets.rows(3)
