#!/usr/bin/env bash
# Multi-GPU / multi-node training with torchrun:
#   tools/dist_train.sh CONFIG NUM_GPUS [tools/train.py arguments]
# One node:    tools/dist_train.sh configs/coarse_demo.py 4
# Two nodes:   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.1.1.1 tools/dist_train.sh CONFIG 8   (node 0)
#              NNODES=2 NODE_RANK=1 MASTER_ADDR=10.1.1.1 tools/dist_train.sh CONFIG 8   (node 1)
# NUM_GPUS is the number of processes (GPUs) on each node. PYTHON picks the interpreter.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NUM_GPUS [tools/train.py arguments]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-${PORT:-29500}}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$MASTER_PORT" \
    --nproc_per_node="$GPUS" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
