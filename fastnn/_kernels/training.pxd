# The compiled epoch loop and forward pass over a whole network.

cdef enum EpochStatus:
    EPOCH_COMPLETE = 0
    EPOCH_STOPPED = 1     # the caller's stop flag was raised between batches
    EPOCH_DIVERGED = 2    # a batch loss was NaN or infinite; params not updated by it
    EPOCH_INTERRUPTED = 3 # a signal handler raised (Ctrl-C); its exception is set

cdef enum Solver:
    SOLVER_SGD = 0
    SOLVER_ADAM = 1

# Columns of the ``layers`` table that describes a network to the kernels.
cdef enum:
    LAYER_N_IN = 0
    LAYER_N_Z           # width of the pre-activation (2 * n_out for glu)
    LAYER_N_OUT
    LAYER_W_OFFSET      # offset of W (n_in, n_z) in the flat parameters
    LAYER_B_OFFSET      # offset of b (n_z,)
    N_LAYER_COLUMNS

ctypedef struct OptimizerConfig:
    int solver
    double learning_rate
    double momentum
    bint nesterov
    double beta1
    double beta2
    double epsilon

from fastnn._kernels.activations cimport ActivationSpec

# A network as the kernels see it: a table of layer shapes and offsets
# (n_layers rows of N_LAYER_COLUMNS), one activation per layer (the last is
# the output activation, used by predict; training fuses it into the loss).
ctypedef struct NetworkShape:
    Py_ssize_t n_layers
    const Py_ssize_t* layers
    const ActivationSpec* specs
    int loss_kind
    double probability_floor   # see losses.loss_gradient; 0 = exact loss
