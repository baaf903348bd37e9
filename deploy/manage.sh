#!/bin/sh
# 以服务用户 visitplan、按 /etc/visitplan/env 运行 manage.py，与三个服务的配置完全相同。root 执行：
#   /opt/visitplan/deploy/manage.sh migrate
#   /opt/visitplan/deploy/manage.sh createsuperuser
# Runs manage.py as the service user with the services' environment file and nothing else of the
# caller's environment (as systemd starts the services). Run it as root. VISITPLAN_ENV_FILE and
# VISITPLAN_USER point it at another file or user (tests/test_deploy_files.py).
set -eu

APP_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
ENV_FILE=${VISITPLAN_ENV_FILE:-/etc/visitplan/env}
SERVICE_USER=${VISITPLAN_USER:-visitplan}

if [ "$(id -u)" -ne 0 ]; then
    echo "请用 root 运行（例如 sudo $0 $*）/ run as root" >&2
    exit 1
fi
if [ ! -r "$ENV_FILE" ]; then
    echo "找不到配置文件 $ENV_FILE，见 docs/deploy.md「配置文件」/ $ENV_FILE is missing" >&2
    exit 1
fi

cd "$APP_DIR"
exec runuser -u "$SERVICE_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin PYTHONUTF8=1 TERM="${TERM:-dumb}" \
    /bin/sh -c 'set -a && . "$0" && set +a && exec .venv/bin/python manage.py "$@"' "$ENV_FILE" "$@"
