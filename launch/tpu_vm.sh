#!/bin/bash
# Runs restoration on every worker of a Cloud TPU VM (single host or pod slice).
#   export TPU_NAME=my-v4-32 ZONE=us-central2-b
#   launch/tpu_vm.sh setup      # copy this checkout to ~/restoration on all workers, make .venv
#   launch/tpu_vm.sh run -m restoration.main --config=configs/gan.py:large \
#     --config.distributed=True --workdir=gs://BUCKET/runs/gan
# `run` passes its arguments to .venv/bin/python on every worker at once; with
# --config.distributed=True, jax.distributed.initialize() detects the TPU slice. Use a gs://
# workdir on multi-host slices so all workers share the checkpoints. DETACH=1 runs under nohup
# with the log in ~/restoration/run.log, so the job survives a dropped ssh connection.
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME to the TPU VM name}"
: "${ZONE:?set ZONE to the TPU VM zone}"
REMOTE_DIR=restoration
REPO="$(cd "$(dirname "$0")/.." && pwd)"

on_all_workers() {
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all --command="$1"
}

case "${1:-}" in
  setup)
    archive="$(mktemp -d)/restoration.tgz"
    tar -czf "$archive" -C "$REPO" --exclude=.venv --exclude=.git --exclude=runs .
    gcloud compute tpus tpu-vm scp "$archive" "$TPU_NAME":~/restoration.tgz \
      --zone="$ZONE" --worker=all
    on_all_workers "mkdir -p $REMOTE_DIR && tar -xzf ~/restoration.tgz -C $REMOTE_DIR \
      && cd $REMOTE_DIR && python3 -m venv .venv && .venv/bin/pip install -q -U pip \
      && .venv/bin/pip install -q -e . 'jax[tpu]'"
    ;;
  run)
    shift
    python=".venv/bin/python $(printf '%q ' "$@")"
    if [[ "${DETACH:-0}" == 1 ]]; then
      python="nohup $python < /dev/null > run.log 2>&1 &"
    fi
    on_all_workers "cd $REMOTE_DIR && $python"
    ;;
  *)
    echo "usage: TPU_NAME=... ZONE=... $0 setup | run [python args...]" >&2
    exit 2
    ;;
esac
