"""Training past one process. Data-parallel training over MPI is `Sequential.fit(...,
comm=comm)` (pynn/distributed/mpi.py, docs/distributed.md); importing pynn never needs
MPI, only passing a communicator does.

May import: the base only (pynn._core in mpi.py)."""
