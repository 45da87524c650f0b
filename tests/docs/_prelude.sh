# Sourced by the docs walker (tests/docs) before every shell block. Commands that serve until stopped
# (`mega start`, `make demo`) run on a free port until /health/ready answers 200, then get SIGTERM and
# must exit 0; `make test` (what runs the walker) is checked with `make -n`.

_docs_free_port() {
  "$DOCS_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_docs_leaf() {  # the newest descendant of process $1 (make -> sh -> mega start): the server itself
  local pid=$1 children
  while children=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null) && [ -n "$children" ]; do
    set -- $children
    pid=${!#}
  done
  echo "$pid"
}

_docs_serve() {  # _docs_serve PORT WHO COMMAND...: COMMAND serves http://127.0.0.1:PORT; WHO (self or
  # leaf) is the process that gets SIGTERM, as a user's Ctrl-C would reach it; then it must exit with a code
  # in DOCS_SERVE_OK (default 0)
  local port=$1 who=$2 log pid rc=0 i target
  shift 2
  log=$(mktemp "$DOCS_TMP/serve.XXXXXX")
  setsid "$@" >"$log" 2>&1 &
  pid=$!
  if ! "$DOCS_PYTHON" "$DOCS_PROBE" "$port" "$pid"; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "docs walker: '$*' did not serve on port $port; its output:" >&2
    cat "$log" >&2
    return 1
  fi
  target=$pid
  if [ "$who" = leaf ]; then target=$(_docs_leaf "$pid"); fi
  kill -TERM "$target"
  wait "$pid" || rc=$?
  for i in $(seq 200); do  # whatever else the group holds (make's server) drains too
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log"
  if kill -0 -- "-$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "docs walker: '$*' was still running 20 s after SIGTERM" >&2
    return 1
  fi
  if [[ " ${DOCS_SERVE_OK:-0} " != *" $rc "* ]]; then
    echo "docs walker: '$*' exited $rc on SIGTERM (expected: ${DOCS_SERVE_OK:-0})" >&2
    return 1
  fi
  echo "docs walker: '$*' served on port $port and stopped on SIGTERM"
}

mega() {
  local skip_value=0 arg port
  for arg in "$@"; do
    if [ "$skip_value" = 1 ]; then skip_value=0; continue; fi
    case $arg in
      --root) skip_value=1 ;;
      -*) ;;
      start)
        port=$(_docs_free_port)
        _docs_serve "$port" self mega "$@" --port "$port"  # the last --port wins
        return ;;
      *) break ;;
    esac
  done
  command mega "$@"
}

make() {
  local port
  case " $* " in
    *" demo "*)
      if ! command make -q .venv/.installed-base 2>/dev/null; then
        echo "docs-walker-skip: make demo would install mega into .venv first (make setup does it once)"
        exit 77
      fi
      port=$(_docs_free_port)
      _docs_serve "$port" leaf make "$@" DEMO_PORT="$port"
      return ;;
    *" test "*)
      command make -n "$@" >/dev/null
      echo "docs walker: 'make $*' is what runs this walker: checked with make -n, not run again"
      return ;;
  esac
  command make "$@"
}
