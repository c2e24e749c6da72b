"""Orchestration of ensembles: work units (:mod:`~nanomag.run.tasks`), the run loop in rooms of its own
(:mod:`~nanomag.run.ensemble`, ``preflight``, ``files``, ``signals``, ``serial``, ``mpi`` -- the only importer
of mpi4py -- and ``maps``; :mod:`nanomag.run.parallel` re-exports their public names) and the side-by-side
comparison of every engine."""
