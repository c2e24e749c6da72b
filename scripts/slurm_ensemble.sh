#!/bin/bash
# Example SLURM batch script: a 10^6-trajectory switching ensemble on 4 nodes.
# Submit with:  sbatch scripts/slurm_ensemble.sh runs/switching.toml switching.h5
# Resubmitting the same command with --resume (see below) finishes a run that
# hit its time limit or was killed: chunks already in the file are kept.
#SBATCH --job-name=nanomag
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=1
#SBATCH --time=02:00:00
#SBATCH --output=nanomag-%j.log

set -euo pipefail
CONFIG=${1:-runs/switching.toml}
OUT=${2:-$(basename "${CONFIG%.toml}").h5}

# One numba thread per MPI rank: the ranks already fill the cores.
export NUMBA_NUM_THREADS=1
# With the cluster's MPI, mpi4py must be built against it (see docs/guide.md, "Clusters").
source .venv/bin/activate

RESUME=""
[ -f "$OUT" ] && RESUME="--resume"   # a previous job left a partial file: finish it
srun nanomag run "$CONFIG" --out "$OUT" --quiet $RESUME
