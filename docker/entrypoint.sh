#!/bin/sh
# The image's entry point.
#   head [ray start options]    the Ray head node (port 6379), in the foreground
#   worker [ray start options]  a Ray worker node joining $RAY_HEAD (host:port)
#   anything else               an optbench command line: optbench "$@"
set -eu
case "${1:-}" in
  head)
    shift
    exec ray start --head --port=6379 --include-dashboard=false --disable-usage-stats \
      --block "$@"
    ;;
  worker)
    shift
    exec ray start --address="${RAY_HEAD:?set RAY_HEAD to the head node, host:6379}" \
      --disable-usage-stats --block "$@"
    ;;
  *)
    exec optbench "$@"
    ;;
esac
