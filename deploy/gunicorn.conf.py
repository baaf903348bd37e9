"""gunicorn 配置 · gunicorn settings for the web service (deploy/systemd/visitplan-web.service).

nginx 在前面（deploy/nginx/visitplan.conf）：gunicorn 只听本机回环地址，静态文件由 nginx 直接发。
Started as ``gunicorn --config /opt/visitplan/deploy/gunicorn.conf.py``; docs/deploy.md walks through it.
Every name below that does not start with ``_`` is a gunicorn setting (tests/test_deploy_files.py
checks that gunicorn knows each one: gunicorn itself ignores a misspelt name without a word).
"""

import multiprocessing
import os

# The project root (this file is deploy/gunicorn.conf.py), wherever the release was unpacked.
_APP_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

wsgi_app = "visitplan.wsgi:application"
chdir = _APP_DIR
proc_name = "visitplan-web"

# Loopback only: nginx is the one client (it terminates TLS and sets the forwarded headers).
bind = "127.0.0.1:8000"

# Processes × threads. 2 × CPU + 1 processes, at most 9: each holds the whole app (~100–150 MB), and
# with 4 threads each that is up to 36 PostgreSQL connections kept open (CONN_MAX_AGE), well under
# PostgreSQL's default max_connections of 100 with the Celery worker beside it. Threads because a
# request mostly waits on PostgreSQL; a slow client never holds one (nginx buffers both ways).
# WEB_CONCURRENCY / GUNICORN_THREADS in /etc/visitplan/env override them (a small VM: WEB_CONCURRENCY=3).
_MAX_WORKERS = 9
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, _MAX_WORKERS))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)

# A gthread worker's heartbeat comes from its main loop, not from the request threads: `timeout`
# restarts a worker that hangs as a whole (or takes longer than this to boot), it does not cut a
# long request short. Long work runs in Celery (registers over IMPORT_BACKGROUND_ROWS, ledgers over
# EXPORT_BACKGROUND_ROWS, the nightly jobs); what a request still does — an upload parsed in the
# sandbox (at most IMPORT_PARSE_CPU_SECONDS, 60 s of CPU), a smaller ledger — is bounded by nginx's
# proxy_read_timeout (180 s), above both.
timeout = 60
# A restart (HUP, max_requests, systemctl stop) lets requests in progress finish for this long;
# the unit's TimeoutStopSec is above it.
graceful_timeout = 90
# Each worker is replaced after about this many requests: memory a long-lived process gathered
# (large exports) goes back; the jitter keeps the workers from restarting all at once.
max_requests = 1000
max_requests_jitter = 100

# Only nginx on this host may say the request came over HTTPS (X-Forwarded-Proto), and only that
# one header counts: with gunicorn's default list a client could send X-Forwarded-Ssl beside it,
# and two that disagree make gunicorn answer 400. Django reads the same header
# (SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https in /etc/visitplan/env).
forwarded_allow_ips = "127.0.0.1"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# Logs to the journal (journalctl -u visitplan-web). The access log has the path without the query
# string (%(U)s, not %(r)s) and no Referer: query strings hold searched names and ID numbers. The
# client address is the one nginx puts in X-Real-IP (every connection comes from 127.0.0.1).
accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%({x-real-ip}i)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'

# The heartbeat file on tmpfs where there is one (a disk-backed /tmp can stall the heartbeat).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn's control socket would go to the service user's home, which it has none of.
control_socket_disable = True
