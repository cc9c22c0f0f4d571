# Sourced by run.sh, test.sh and bootstrap.sh: what they share.

# Runs the command after `what`, printing a line every 10 s while it runs, so that a long step
# whose tool prints nothing (pip --quiet, a first compile) never looks hung.
with_heartbeat() { # what, then the command
  local what=$1; shift
  local started=$SECONDS ticker status=0
  # `read -t` on a pipe nobody writes to is the pause, not `sleep`: a killed ticker leaves no sleep
  # behind holding the caller's stdout, which made `$(with_heartbeat …)` wait out the 10 s.
  # The ticker is a subshell, born with the caller's traps: it drops them, and is ended with
  # SIGKILL, which no trap catches, since a TERM that comes before it dropped them (a command that
  # returns at once) would run the caller's clean-up (stop the stack) in the ticker.
  (trap - EXIT INT TERM; while ! read -r -t 10 <> <(:); do printf '    ... still %s (%d s)\n' "$what" $((SECONDS - started)) >&2; done) &
  ticker=$!
  "$@" || status=$?
  kill -KILL "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$status"
}

# cargo-lambda's own lines that are not about the functions: with --ignore-changes it watches no
# file, yet its file watcher still reports hitting the inotify limits (MaxFilesWatch on a large
# checkout, "Native fs watcher error" when other watchers use up the machine's inotify
# instances); dropped so that only the stack's own lines show.
drop_watch_noise() {
  grep --line-buffered -v -e 'MaxFilesWatch' -e 'Native fs watcher error' || true
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

# The watch of make test, scripts/test-cognito.sh and scripts/dev-test.sh: four instances per
# function, and the root package's test-graph feature (Cargo.toml), which resolves the shared crates
# as the test build (`cargo build --workspace --all-targets`) did, so the watch's `cargo run --bin`
# finds every function built and compiles nothing. make run keeps the plain graph it built itself.
start_test_watch() { # log
  start_watch "$1" --concurrency 4 --features password-reset-tests/test-graph
}

# Fails when the watch whose log is `log` compiled anything: under make test every function was built
# by the test build already (start_test_watch).
watch_compiled_nothing() { # log
  if grep -E '^ *Compiling ' "$1" | head -5 | grep .; then
    echo "error: cargo lambda watch compiled the crates above although the test build had built the functions:" >&2
    echo "       a shared crate gets a feature from a dev-dependency that Cargo.toml's test-graph feature does" >&2
    echo "       not name (cargo test --test api feature_graph lists them)" >&2
    return 1
  fi
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

# Starts every function under cargo lambda watch once, all at the same time (a function not built
# yet compiles now), and prints each answer and time; fails when one answers neither 2xx nor 4xx.
warm_functions() { # base URL
  local base=$1 dir pids=()
  dir=$(mktemp -d)
  warm() { # name, then curl arguments
    local name=$1; shift
    curl -s -o /dev/null -w '%{http_code} in %{time_total} s' --max-time 900 "$@" >"$dir/$name" 2>/dev/null || true
  }
  warm request-reset "$base/password-reset" & pids+=($!)
  warm verify-token "$base/password-reset/confirm?token=warm-up" & pids+=($!)
  warm address-change "$base/password-reset/address-change" & pids+=($!)
  warm local-sign-in "$base/sign-in" & pids+=($!)
  warm change-password -X POST -H 'content-type: application/json' -d '{}' "$base/api/password-reset/complete" & pids+=($!)
  warm mail-events -X POST -H 'content-type: application/json' --data-binary @events/mail-delivery.json \
    "$base/2015-03-31/functions/mail-events/invocations" & pids+=($!)
  warm send-mail -X POST -H 'content-type: application/json' -d '{"Records":[]}' \
    "$base/2015-03-31/functions/send-mail/invocations" & pids+=($!)
  with_heartbeat "starting the functions" wait "${pids[@]}"
  local failed=0 name answer
  for name in request-reset verify-token address-change local-sign-in change-password mail-events send-mail; do
    answer=$(cat "$dir/$name" 2>/dev/null || true)
    printf '    %-16s answered %s\n' "$name" "${answer:-nothing}"
    case "$answer" in 2??\ *|4??\ *) ;; *) failed=1 ;; esac
  done
  rm -rf "$dir"
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

# What make test ran, pass by pass: each pass of the test driver checks the number of its tests
# against tests/declared-counts (the least each pass must run), so that an empty selection, a lost
# module or a renamed filter fails instead of passing silently. COUNTS_FILE collects one line per
# pass for the summary at the end.
declared_count() { # pass name
  local count
  count=$(awk -v pass="$1" '$1 == pass { print $2 }' tests/declared-counts)
  [ -n "$count" ] || { echo "error: tests/declared-counts declares no count for the pass '$1'" >&2; return 1; }
  echo "$count"
}

# Checks a pass's count and records it: fails when fewer than declared ran.
record_count() { # pass name, tests run, what else to say
  local pass=$1 ran=$2 note=${3:-} declared
  declared=$(declared_count "$pass") || return 1
  printf '    %-14s %5d tests ran (declared at least %d)%s\n' "$pass" "$ran" "$declared" "${note:+; $note}" | tee -a "${COUNTS_FILE:-/dev/null}"
  if [ "$ran" -lt "$declared" ]; then
    echo "error: the pass '$pass' ran $ran tests, fewer than the $declared tests/declared-counts declares" >&2
    return 1
  fi
}

# One cargo test pass: lists what it selects (the list lands in .local/<STACK_NAME>/<pass>.list),
# refuses an empty or short selection before running it, runs it, and then checks that every
# listed test either passed or was ignored, none vanished between list and run.
#   cargo_test_pass workspace --workspace --no-fail-fast -- --skip disruptive::
cargo_test_pass() { # pass name, cargo test arguments, --, the test binaries' arguments
  local pass=$1; shift
  local cargo_args=() binary_args=() seen_separator=
  for arg in "$@"; do
    if [ -z "$seen_separator" ] && [ "$arg" = -- ]; then seen_separator=1; continue; fi
    if [ -n "$seen_separator" ]; then binary_args+=("$arg"); else cargo_args+=("$arg"); fi
  done
  local dir=.local/${STACK_NAME:-test}
  mkdir -p "$dir"
  local list=$dir/$pass.list output=$dir/$pass.out
  cargo test --quiet "${cargo_args[@]}" -- --list --format terse "${binary_args[@]}" 2>/dev/null \
    | grep -E ': (test|bench)$' >"$list" || true
  local listed declared
  listed=$(wc -l <"$list")
  declared=$(declared_count "$pass") || return 1
  if [ "$listed" -lt "$declared" ]; then
    echo "error: the pass '$pass' selects $listed tests ($list), fewer than the $declared tests/declared-counts declares" >&2
    return 1
  fi
  local status=0
  # (pipefail: the pipeline fails when cargo test does)
  cargo test "${cargo_args[@]}" -- "${binary_args[@]}" 2>&1 | tee "$output" || status=1
  local passed ignored
  passed=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^passed;?$/) s += $i } END { print s + 0 }' "$output")
  ignored=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^ignored;?$/) s += $i } END { print s + 0 }' "$output")
  record_count "$pass" "$passed" "$listed listed, $ignored ignored" || status=1
  if [ "$status" = 0 ] && [ $((passed + ignored)) -ne "$listed" ]; then
    echo "error: the pass '$pass' listed $listed tests but $passed passed and $ignored were ignored" >&2
    status=1
  fi
  return "$status"
}

# The requests schemathesis generated and found correct, from its summary line
# ("Test cases: N generated, M passed[, …]").
schemathesis_cases() { # output file
  grep -oE '[0-9]+ generated, [0-9]+ passed' "$1" | tail -n 1 | awk '{ print $3 + 0 }'
}

# The local stack's endpoints on DYNAMODB_PORT, SES_PORT and MOTO_PORT: scripts/local-endpoints.sh,
# the one place they are written.
export_local_endpoints() {
  . scripts/local-endpoints.sh
}
