#!/bin/sh
# Report a command to Chronos with Healthchecks-style pings: no SDK, only curl.
#
#   PING_URL=http://127.0.0.1:8050/ping/<uuid> examples/ping.sh /usr/local/bin/backup.sh --full
#
# PING_URL is the job's "pingUrl" (GET /api/jobs/<jobId> with your API key, or the job page in the
# dashboard). The uuid in it is the secret: pings need no API key. Without a command the script sends
# one plain success ping. The command's exit status becomes the run's status (0 = success) and the
# script's own exit status; the last 64 KiB of its output are attached as the run's log.
#
# The same as crontab one-liners:
#   */5 * * * *  curl -fsS -m 10 --retry 3 -o /dev/null "$PING_URL"
#   0 2 * * *    curl -fsS -m 10 -o /dev/null "$PING_URL/start"; /usr/local/bin/backup.sh; curl -fsS -m 10 -o /dev/null "$PING_URL/$?"
set -u

if [ -z "${PING_URL:-}" ]; then
    echo "ping.sh: set PING_URL to the job's ping URL" >&2
    exit 2
fi
PING_URL=${PING_URL%/}

ping() {  # ping <suffix> [curl args...]: never fails the script, even when the server is away
    suffix=$1; shift
    curl -fsS -m 10 --retry 3 -o /dev/null "$@" "$PING_URL$suffix" || echo "ping.sh: ping $suffix failed" >&2
}

if [ $# -eq 0 ]; then
    ping ""
    exit 0
fi

# The run id pairs /start with its finish, so overlapping runs of the same job stay apart.
rid="$(date +%s)-$$"
log=$(mktemp "${TMPDIR:-/tmp}/chronos-ping.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT

ping "/start?rid=$rid"
# Output (stderr merged into stdout) still reaches the terminal or cron's mail, and is kept for the report.
status_file="$log.status"
{ "$@" 2>&1; echo $? > "$status_file"; } | tee "$log"
status=$(cat "$status_file" 2>/dev/null || echo 1)
rm -f "$status_file"
[ "$status" -gt 255 ] && status=255

tail -c 65536 "$log" > "$log.tail" && mv "$log.tail" "$log"
ping "/$status?rid=$rid" --data-binary "@$log"
exit "$status"
