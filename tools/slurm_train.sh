#!/usr/bin/env bash
# Training on a SLURM cluster, one task per GPU, started by srun:
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [tools/train.py arguments]
# e.g. GPUS=16 GPUS_PER_NODE=8 tools/slurm_train.sh gpu coarse configs/coarse_ucaltech.py \
#          work_dirs/ucaltech/coarse
# Environment: GPUS (tasks in all, 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra
# srun options, e.g. "--quotatype=auto" or "--time=1-00:00:00"), PYTHON (interpreter).
# MMEngine reads SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID and takes the first node of
# SLURM_NODELIST as master; MASTER_PORT (default 29500) picks the port.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG [WORK_DIR] [tools/train.py arguments]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
WORK_DIR_ARGS=()
# The optional WORK_DIR is the 4th argument unless it is an option (--resume, --cfg-options ...).
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
    WORK_DIR_ARGS=(--work-dir "$1")
    shift
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# SRUN_ARGS is split on spaces on purpose (several srun options in one variable).
# shellcheck disable=SC2086
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" \
    ${WORK_DIR_ARGS[@]+"${WORK_DIR_ARGS[@]}"} --launcher slurm "$@"
