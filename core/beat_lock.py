"""Only one Celery beat at a time: a lock taken when a beat starts and held while it runs.

Every periodic job is idempotent (claimed in the database), so a second beat would not send a
reminder twice — but it would queue every job twice. The lock makes "only one beat" hold:
``on_beat_init`` is connected to ``celery.signals.beat_init`` (``visitplan/celery.py``), which
Celery sends from ``celery.beat.Service.start`` before the first tick, both for ``celery beat``
and for the beat embedded in ``celery worker -B`` (``make run``, ``make worker``).

Where the lock lives:

- **Redis** (the broker URL is ``redis://``/``rediss://``, or ``CELERY_BEAT_LOCK_URL`` is set):
  the key ``CELERY_BEAT_LOCK_KEY`` is taken with ``SET key token NX PX ttl`` and renewed every
  ttl/3 by a daemon thread of the beat process (a Lua compare-and-expire: only the holder's
  token renews it). It is deleted (compare-and-delete) when the beat stops. A beat killed with
  SIGKILL, or whose machine died, leaves the key until it expires (``CELERY_BEAT_LOCK_TTL``,
  60 s): a beat started sooner is refused, the supervisor's next restart gets the lock. Works
  across machines: two hosts running ``worker -B`` against one Redis get one beat.
- **Otherwise** (the filesystem broker of ``make run``: everything on one machine): an exclusive
  ``flock`` on ``CELERY_BEAT_LOCK_FILE`` (``var/celerybeat.lock``); the kernel drops it when the
  process ends, however it ends. No expiry, no renewal.

A beat that finds the lock held logs who holds it (host:pid) and raises ``SystemExit(1)`` out of
``Service.start`` (the signal dispatcher only swallows ``Exception``): ``celery beat`` exits
with status 1; the beat child process of ``celery worker -B`` ends while the worker goes on
consuming tasks. A beat that finds at a renewal that another beat holds the key (this process
stalled longer than the TTL and the key expired) stops itself (``Service.stop``). While Redis is
unreachable at start the beat waits and retries (it could not send anything anyway).

Settings (read with defaults; the environment variable of the same name is used when the
setting is not defined): ``CELERY_BEAT_LOCK`` (on by default; ``false`` disables the lock),
``CELERY_BEAT_LOCK_URL``, ``CELERY_BEAT_LOCK_KEY`` (``visitplan:beat-lock``),
``CELERY_BEAT_LOCK_TTL`` (seconds, 60), ``CELERY_BEAT_LOCK_FILE``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_KEY = "visitplan:beat-lock"
DEFAULT_TTL = 60
# Attribute of the beat Service (the signal's sender) holding its lock.
_ATTR = "_beat_lock"

# KEYS[1] = key, ARGV[1] = token, ARGV[2] = ttl in ms.
# Renew: extend the key while it is ours; take it again if it vanished (Redis restarted without
# persistence); 0 when another beat holds it.
_RENEW = """
local v = redis.call('get', KEYS[1])
if v == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class BeatLockHeld(Exception):
    """Another beat holds the lock."""


def _setting(name, default):
    from django.conf import settings

    if hasattr(settings, name):
        return getattr(settings, name)
    return os.environ.get(name, default)


def _enabled() -> bool:
    value = _setting("CELERY_BEAT_LOCK", True)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def _token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RedisBeatLock:
    def __init__(self, url: str, *, key: str = DEFAULT_KEY, ttl: float = DEFAULT_TTL):
        import redis

        self.url, self.key, self.ttl = url, key, float(ttl)
        self.token = _token()
        self.client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._renew = self.client.register_script(_RENEW)
        self._release = self.client.register_script(_RELEASE)
        # A renewal racing the release must not take the key again for a beat that has stopped.
        self._mutex = threading.Lock()
        self._released = False

    @property
    def where(self) -> str:
        return f"Redis 键 {self.key}"

    @property
    def renew_every(self) -> float | None:
        return max(self.ttl / 3, 0.1)

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, px=int(self.ttl * 1000)))

    def holder(self) -> str:
        value = self.client.get(self.key)
        return value.decode(errors="replace") if value else "（已释放）"

    def renew(self) -> bool:
        with self._mutex:
            if self._released:
                return True  # stopping: nothing to keep
            return bool(self._renew(keys=[self.key], args=[self.token, int(self.ttl * 1000)]))

    def release(self) -> None:
        with self._mutex:
            if self._released:
                return
            self._released = True
            try:
                self._release(keys=[self.key], args=[self.token])
            finally:
                self.client.close()

    def close(self) -> None:
        """Drop the connection of a lock that was not acquired."""
        self.client.close()


class FileBeatLock:
    def __init__(self, path):
        self.path = Path(path)
        self.token = _token()
        self._file = None

    @property
    def where(self) -> str:
        return f"文件 {self.path}"

    renew_every = None  # the kernel holds it for the life of the process

    def acquire(self) -> bool:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            # flock, not lockf: flock locks of two open() calls conflict even inside one process.
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(self.token + "\n")
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "（未知）"
        except OSError:
            return "（未知）"

    def renew(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        import fcntl

        handle, self._file = self._file, None
        if handle is not None:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def close(self) -> None:
        pass


def lock_for(app=None):
    """The lock this deployment uses (see the module docstring), not yet acquired."""
    from django.conf import settings

    url = _setting("CELERY_BEAT_LOCK_URL", "") or (
        getattr(getattr(app, "conf", None), "broker_url", None) or getattr(settings, "CELERY_BROKER_URL", "")
    )
    if str(url).startswith(("redis://", "rediss://")):
        return RedisBeatLock(
            str(url),
            key=str(_setting("CELERY_BEAT_LOCK_KEY", DEFAULT_KEY)),
            ttl=float(_setting("CELERY_BEAT_LOCK_TTL", DEFAULT_TTL)),
        )
    default_file = Path(getattr(settings, "BASE_DIR", Path.cwd())) / "var" / "celerybeat.lock"
    return FileBeatLock(_setting("CELERY_BEAT_LOCK_FILE", str(default_file)))


def acquire(lock, *, stopping=None, retry_seconds: float = 2.0) -> None:
    """Take ``lock`` or raise ``BeatLockHeld``; waits while Redis cannot be reached."""
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
    except ImportError:  # the file lock needs no Redis package
        RedisConnectionError = ConnectionRefusedError

    delay = retry_seconds
    while True:
        try:
            if lock.acquire():
                return
            raise BeatLockHeld(lock.holder())
        except RedisConnectionError as exc:
            if stopping is not None and stopping.is_set():
                raise SystemExit(1) from exc
            log.warning("beat lock: Redis not reachable (%s), retrying in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


def _keep(lock, service):
    """Renew the lock every ``lock.renew_every`` seconds until the beat stops; stop it if lost."""
    stopped = getattr(service, "_is_stopped", None) or threading.Event()
    while not stopped.wait(lock.renew_every):
        try:
            still_ours = lock.renew()
        except Exception as exc:  # noqa: BLE001 - Redis away for a moment: try again next time
            log.warning("beat lock: renewal failed (%s); retrying", exc)
            continue
        if not still_ours:
            log.critical(
                "beat lock: %s is now held by %s; this beat stops so that only one runs", lock.where, lock.holder()
            )
            stop = getattr(service, "stop", None)
            if stop is not None:
                stop()
            return


def _release_on_stop(service, lock):
    """Release the lock when the beat stops: ``Service.start`` calls ``self.sync()`` in its finally."""
    original = getattr(service, "sync", None)

    def sync(*args, **kwargs):
        try:
            if original is not None:
                return original(*args, **kwargs)
        finally:
            release(service)

    service.sync = sync


def release(service) -> None:
    """Give up the lock held for ``service`` (idempotent)."""
    lock = getattr(service, _ATTR, None)
    if lock is None:
        return
    setattr(service, _ATTR, None)
    try:
        lock.release()
        log.info("beat lock: released %s", lock.where)
    except Exception as exc:  # noqa: BLE001 - the TTL frees it anyway
        log.warning("beat lock: release failed (%s); it expires by itself", exc)


def on_beat_init(sender=None, **kwargs):
    """``beat_init`` receiver: take the lock for this beat, or end this beat (``SystemExit(1)``)."""
    if not _enabled():
        return None
    lock = lock_for(getattr(sender, "app", None))
    try:
        acquire(lock, stopping=getattr(sender, "_is_shutdown", None))
    except BeatLockHeld as held:
        lock.close()
        log.error(
            "已有另一个 Celery beat 在运行（%s，持有者 %s），本 beat 不启动：同一时间只能运行一个 beat。"
            " Another beat holds the lock (%s, held by %s); this beat does not start.",
            lock.where, held, lock.where, held,
        )  # fmt: skip
        raise SystemExit(1) from None
    log.info("beat lock: acquired %s as %s", lock.where, lock.token)
    if sender is not None:
        setattr(sender, _ATTR, lock)
        _release_on_stop(sender, lock)
        if lock.renew_every:
            threading.Thread(target=_keep, args=(lock, sender), name="beat-lock", daemon=True).start()
    return lock
