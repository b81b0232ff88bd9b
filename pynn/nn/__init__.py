"""The network: layers, activations (as layers and as functions), initializers,
optimizers, float32 matmul precision and threads, and Sequential, the one owner of the
core network (`pynn._core.NetworkF32/F64`).

May import: the rooms below it (pynn.distributed, pynn.io, pynn.training, pynn.lecture) and the base."""
