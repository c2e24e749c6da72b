"""Orchestration of ensembles: work units, serial/MPI scheduling (:mod:`nanomag.run.parallel`, the only
importer of mpi4py) and the side-by-side comparison of every engine."""
