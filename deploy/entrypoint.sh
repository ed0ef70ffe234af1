#!/bin/sh
# The image's entry point: `coordinator ARGS` or `worker ARGS`; anything else runs as a command.
set -eu
case "${1:-}" in
  coordinator) shift; exec /app/Coordinator "$@" ;;
  worker) shift; exec /app/Worker "$@" ;;
  "") echo "error: the first argument must be 'coordinator' or 'worker'" >&2; exit 2 ;;
  *) exec "$@" ;;
esac
