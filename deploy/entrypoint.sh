#!/bin/sh
# The image's entry point. The first argument chooses the program:
#   coordinator ARGS...        the Coordinator program (train, cert, evaluate, ...)
#   worker ARGS...             the Worker program
#   train-or-resume DIR LAUNCH_ARGS... -- SETTINGS...
#                              `coordinator train --out DIR LAUNCH_ARGS SETTINGS` the first time; once DIR holds a
#                              checkpoint, `coordinator train --resume DIR LAUNCH_ARGS` (a restarted pod goes on
#                              where it stopped; the settings come from the checkpoint)
#   anything else              runs as a command (e.g. sh)
# Environment, for orchestrators that hand secrets out as files:
#   DATAPARALLEL_TOKEN_FILE           read the join token from this file (sets DATAPARALLEL_TOKEN)
#   DATAPARALLEL_TLS_PASSWORD_FILE    read the certificate's password from this file (sets DATAPARALLEL_TLS_PASSWORD)
#   DATAPARALLEL_ADVERTISE_IP=1       a worker without --public-host advertises this container's own address
#                                     (replicas of one service share a name, so each must say where it is)
set -eu

from_file() { # VAR FILE NAME_OF_FILE_VARIABLE
  [ -r "$2" ] || { echo "error: $3: cannot read $2 (mounted? readable by uid $(id -u)?)" >&2; exit 2; }
  value="$(cat "$2")"
  export "$1=$value"
}
[ -z "${DATAPARALLEL_TOKEN_FILE:-}" ] || from_file DATAPARALLEL_TOKEN "$DATAPARALLEL_TOKEN_FILE" DATAPARALLEL_TOKEN_FILE
[ -z "${DATAPARALLEL_TLS_PASSWORD_FILE:-}" ] || from_file DATAPARALLEL_TLS_PASSWORD "$DATAPARALLEL_TLS_PASSWORD_FILE" DATAPARALLEL_TLS_PASSWORD_FILE

case "${1:-}" in
  coordinator) shift; exec /app/Coordinator "$@" ;;
  worker)
    shift
    if [ "${DATAPARALLEL_ADVERTISE_IP:-}" = 1 ]; then
      case " $* " in *" --public-host "*) ;; *)
        own="$(getent hosts "$(cat /etc/hostname)" | awk '{print $1; exit}')"
        [ -n "$own" ] || { echo "error: DATAPARALLEL_ADVERTISE_IP: no address for $(cat /etc/hostname) in /etc/hosts; give --public-host" >&2; exit 2; }
        set -- "$@" --public-host "$own" ;;
      esac
    fi
    exec /app/Worker "$@" ;;
  train-or-resume)
    shift
    [ $# -ge 1 ] || { echo "error: train-or-resume: DIR missing" >&2; exit 2; }
    dir="$1"; shift
    launch=""; settings=""; seen=0
    for arg in "$@"; do
      if [ $seen = 0 ] && [ "$arg" = "--" ]; then seen=1; continue; fi
      quoted="'$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")'"
      if [ $seen = 0 ]; then launch="$launch $quoted"; else settings="$settings $quoted"; fi
    done
    if [ -f "$dir/result.json" ]; then
      # A finished run restarted by its orchestrator: keep the pod up so its files can be copied out.
      echo "$dir holds a finished run (result.json); nothing to do"
      exec sleep infinity
    elif ls "$dir"/checkpoints/*.ckpt >/dev/null 2>&1; then
      eval "exec /app/Coordinator train --resume '$dir' $launch"
    else
      eval "exec /app/Coordinator train --out '$dir' $launch $settings"
    fi ;;
  "") echo "error: the first argument must be coordinator, worker or train-or-resume" >&2; exit 2 ;;
  *) exec "$@" ;;
esac
