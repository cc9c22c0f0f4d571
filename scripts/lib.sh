# Sourced by run.sh, test.sh and bootstrap.sh: what they share.

# Runs the command after `what`, printing a line every 10 s while it runs, so that a long step
# whose tool prints nothing (pip --quiet, a first compile) never looks hung.
with_heartbeat() { # what, then the command
  local what=$1; shift
  local started=$SECONDS ticker status=0
  (while sleep 10; do printf '    ... still %s (%d s)\n' "$what" $((SECONDS - started)) >&2; done) &
  ticker=$!
  "$@" || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$status"
}

# cargo-lambda's own lines that are not about the functions: with --ignore-changes it watches no
# file, yet its file watcher still reports hitting the inotify limit (MaxFilesWatch) on a large
# checkout; dropped so that only the stack's own lines show.
drop_watch_noise() {
  grep --line-buffered -v -e 'MaxFilesWatch' || true
}

# Starts `cargo lambda watch` on 127.0.0.1:$WATCH_PORT with the functions' log at $RUST_LOG and
# its own at warn (at info it prints its whole configuration), in a process group of its own:
# Ctrl-C reaches only the calling script, whose cleanup calls stop_watch. Output goes to `log`
# (a file, or /dev/stdout); further arguments go to cargo lambda watch. Sets WATCH_PID and
# returns once the port answers, with a line every 10 s while it does not.
start_watch() { # log, then extra arguments
  local log=$1; shift
  set -m
  RUST_LOG=warn cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" --ignore-changes \
    --disable-cors --env-var "RUST_LOG=$RUST_LOG" "$@" > >(drop_watch_noise >>"$log") 2>&1 &
  WATCH_PID=$!
  set +m
  local started=$SECONDS
  until (exec 3<>"/dev/tcp/127.0.0.1/$WATCH_PORT") 2>/dev/null; do
    kill -0 "$WATCH_PID" 2>/dev/null || { echo "error: cargo lambda watch exited; see $log" >&2; return 1; }
    if [ $(((SECONDS - started) % 10)) = 9 ]; then printf '    ... waiting for cargo lambda watch (%d s)\n' $((SECONDS - started)) >&2; fi
    sleep 1
  done
}

# The processes below `pid`, children first.
descendants() { # pid
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    descendants "$child"
    echo "$child"
  done
}

# Stops cargo lambda watch and every function instance it started (each in a process group of its
# own, so the watch's group is not enough): all are frozen first, then killed. Its graceful
# shutdown waits for the instances and then says "Shutdown timed out!", and an instance whose
# runtime API goes away first logs hyper's IncompleteMessage; frozen, neither can print, and the
# functions keep no state to flush.
stop_watch() {
  if [ -n "${WATCH_PID:-}" ]; then
    local pids
    pids="$WATCH_PID $(descendants "$WATCH_PID")"
    # shellcheck disable=SC2086 # one pid a word
    kill -STOP $pids 2>/dev/null || true
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    wait "$WATCH_PID" 2>/dev/null || true
    WATCH_PID=
  fi
}

# Starts every function under cargo lambda watch once (a function not built yet compiles now) and
# prints its answer and time; fails when one answers neither 2xx nor 4xx.
warm_functions() { # base URL
  local base=$1 failed=0
  warm() { # name, then curl arguments
    local name=$1; shift
    local answer
    answer=$(with_heartbeat "starting $name" curl -s -o /dev/null -w '%{http_code} in %{time_total} s' --max-time 900 "$@") || true
    printf '    %-16s answered %s\n' "$name" "$answer"
    case "$answer" in 2??\ *|4??\ *) ;; *) failed=1 ;; esac
  }
  warm request-reset "$base/password-reset"
  warm verify-token "$base/password-reset/confirm?token=warm-up"
  warm address-change "$base/password-reset/address-change"
  warm local-sign-in "$base/sign-in"
  warm change-password -X POST -H 'content-type: application/json' -d '{}' "$base/api/password-reset/complete"
  warm mail-events -X POST -H 'content-type: application/json' --data-binary @events/mail-delivery.json \
    "$base/2015-03-31/functions/mail-events/invocations"
  warm send-mail -X POST -H 'content-type: application/json' -d '{"Records":[]}' \
    "$base/2015-03-31/functions/send-mail/invocations"
  return "$failed"
}

# The scripts' exit, Ctrl-C included: the local SQS trigger (TRIGGER_PID), cargo lambda watch
# with every function instance, then the stack of STACK_NAME.
stop_local_stack() {
  trap - EXIT INT TERM
  if [ -n "${TRIGGER_PID:-}" ]; then kill "$TRIGGER_PID" 2>/dev/null || true; fi
  stop_watch
  scripts/stack.sh down
}
