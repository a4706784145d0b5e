"""One training epoch in compiled code: the OpenMP team over a fit's batches.

An :class:`EpochTeam` is set up once per fit, from the network's plan, the
fit's prepared :class:`~fastnn._kernels.data.TrainingData`, the batch size,
how many parts each batch is split into, and the objective's terms; it owns
the per-thread workspaces and the per-part gradient blocks. Each call to
:meth:`EpochTeam.run` then runs a whole epoch without returning to Python
and without allocating: for every minibatch (rows picked by the order array
the caller draws from its random state) the threads gather their part's
rows, run the plan's loss and gradient on it, and after a barrier each
updates its slice of the parameters.

Dropout (a plan with dropout rates, and a team given a seed): each part's
masks are keyed by the seed, the epoch (the samples trained on before it,
scikit-learn's ``t_``, which keeps counting across ``partial_fit`` calls and
warm starts), the batch's index in the epoch and each row's sample index
``order[start + k]``; see :mod:`fastnn._kernels.dropout`. So the masks do not
depend on the threads or on the parts a batch is split into.

Reliability hooks: the loop polls a stop flag between batches and, when
asked (main thread only), checks for signals so Ctrl-C interrupts promptly
even though the GIL is released; a non-finite batch loss stops the epoch
before the update that would spread it.
"""

from cython cimport floating
from libc.math cimport INFINITY, isfinite, pow
from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
from cython.parallel cimport parallel

from fastnn._kernels.data cimport (
    InputView, TargetView, TrainingData, batch_rows, is_run, one_hot_rows, share,
)
from fastnn._kernels.dense cimport SparseRows
from fastnn._kernels.dropout cimport DropoutKey
from fastnn._kernels.optimizers cimport UpdateConfig, UpdateRule, apply_update
from fastnn._kernels.orders cimport bitgen_of, bitgen_t, shuffle_rows
from fastnn._kernels.plan cimport (
    PENALTY_IN_OBJECTIVE, PENALTY_NONE, NetworkPlan, Objective, ObjectiveTerms, Plan,
    loss_gradient_rows,
)
from fastnn._kernels.runtime cimport (
    FASTNN_SIGNAL_CHECK_INTERVAL, fastnn_barrier, fastnn_num_threads, fastnn_seconds,
    fastnn_thread_num, signals_raised,
)

import contextlib

import numpy as np

cdef enum EpochStatus:
    EPOCH_COMPLETE = 0
    EPOCH_STOPPED = 1      # the caller's stop flag was raised between batches
    EPOCH_DIVERGED = 2     # a batch loss was not finite; its update was not applied
    EPOCH_INTERRUPTED = 3  # a signal handler raised (Ctrl-C); its exception is set
    EPOCH_PLATEAU = 4      # run_epochs: the plateau rule ended training
    EPOCH_PAUSED = 5       # run_epochs: its time was up with epochs left to run

#: The outcomes of an epoch (or of a run of epochs), by name.
STATUS = {"complete": EPOCH_COMPLETE, "stopped": EPOCH_STOPPED,
          "diverged": EPOCH_DIVERGED, "plateau": EPOCH_PLATEAU, "paused": EPOCH_PAUSED}

cdef enum LearningRateSchedule:
    SCHEDULE_CONSTANT = 0
    SCHEDULE_INVSCALING = 1
    SCHEDULE_ADAPTIVE = 2

#: Learning-rate schedules :class:`EpochRules` follows, by scikit-learn's names.
LEARNING_RATE_SCHEDULES = {"constant": SCHEDULE_CONSTANT,
                           "invscaling": SCHEDULE_INVSCALING,
                           "adaptive": SCHEDULE_ADAPTIVE}

# What run_epochs does between epochs, and what it counts (EpochRules).
ctypedef struct BetweenEpochs:
    bitgen_t* bitgen              # draws each epoch's order; NULL keeps the order
    double tol
    long n_iter_no_change         # < 0: no plateau rule
    int schedule                  # a LearningRateSchedule
    double learning_rate_init
    double power_t
    double pause_after            # seconds
    double best_loss
    long no_improvement_count
    long long samples_seen
    Py_ssize_t n_epochs           # completed by the current or last run
    long step                     # the update rule's step after the last of them

# What every thread of one epoch reads. Arrays of the network's element type
# are void* (a struct cannot be fused); the worker, specialised by the type
# of the parameters, casts them back.
ctypedef struct EpochTask:
    const Plan* plan
    const ObjectiveTerms* terms
    const UpdateConfig* update
    const InputView* inputs
    const TargetView* targets
    const Py_ssize_t* order
    Py_ssize_t batch_size
    Py_ssize_t n_parts            # parts each batch is split into (see _epoch_worker)
    void* grads                   # one block of n_params per part
    void* state                   # the optimizer's state vectors
    void* workspace               # one block per thread, laid out for part_rows rows
    Py_ssize_t part_rows
    const unsigned char* stop_flag
    bint check_signals
    bint dropout                  # draw the plan's dropout masks
    uint64_t dropout_seed[2]
    uint64_t dropout_epoch        # samples trained on before this epoch

# What the threads of one epoch share; each writes only its own entry of the
# arrays, thread 0 writes the rest, and all read after a barrier.
ctypedef struct EpochShared:
    double* weight_parts    # per part: sum of its rows' sample weights
    double* loss_parts      # per part: its rows' share of the batch objective
    int status              # an EpochStatus, set by thread 0
    long step
    double accumulated_loss
    Py_ssize_t n_batches
    double* thread_waits    # per thread: seconds it waited at barriers this epoch
    double barrier_wait     # the longest of them (summed over a run's epochs)


cdef class EpochRules:
    """What :meth:`EpochTeam.run_epochs` does between epochs: scikit-learn's rules.

    Before each epoch the order is shuffled as ``sklearn.utils.shuffle`` does
    (see :mod:`fastnn._kernels.orders`). After each, scikit-learn's plateau
    rule counts epochs whose loss did not fall below the best by more than
    ``tol``; the ``invscaling`` schedule sets the learning rate to
    ``learning_rate_init / (samples_seen + 1) ** power_t``; and when the count
    exceeds ``n_iter_no_change``, training ends, except that the ``adaptive``
    schedule divides the learning rate by 5 and starts counting again, until
    the rate is at most 1e-6.

    Parameters
    ----------
    bit_generator : numpy.random.BitGenerator, optional
        Draws the orders (kept alive here); None keeps the order as given.
    tol : float, default=0
    n_iter_no_change : int, default=-1
        Negative: no plateau rule (and no stop from it).
    lr_schedule : {"constant", "invscaling", "adaptive"}, default="constant"
        Changes the update rule's learning rate; Adam's is "constant".
    learning_rate_init, power_t : float
        Of the ``invscaling`` schedule.
    best_loss : float, default=inf
    no_improvement_count : int, default=0
    samples_seen : int, default=0
        The plateau rule's and the schedule's counters, carried over from
        earlier epochs; they advance as epochs complete.
    pause_after : float, default=inf
        Seconds after which a run returns ("paused") at the end of an epoch,
        epochs left or not, so its caller can publish the model.

    Attributes
    ----------
    best_loss, no_improvement_count, samples_seen :
        As of the last completed epoch.
    n_epochs : int
        Epochs completed by the current or last run (also when it raised).
    step : int
        The update rule's step count after the last completed epoch.
    """

    cdef BetweenEpochs rules
    cdef object bit_generator

    def __cinit__(self, bit_generator=None, double tol=0.0, long n_iter_no_change=-1,
                  str lr_schedule="constant", double learning_rate_init=0.0,
                  double power_t=0.5, double best_loss=INFINITY,
                  long no_improvement_count=0, long long samples_seen=0,
                  double pause_after=INFINITY):
        if lr_schedule not in LEARNING_RATE_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {sorted(LEARNING_RATE_SCHEDULES)}, "
                             f"got {lr_schedule!r}")
        self.bit_generator = bit_generator
        self.rules.bitgen = NULL if bit_generator is None else bitgen_of(bit_generator)
        self.rules.tol = tol
        self.rules.n_iter_no_change = n_iter_no_change
        self.rules.schedule = LEARNING_RATE_SCHEDULES[lr_schedule]
        self.rules.learning_rate_init = learning_rate_init
        self.rules.power_t = power_t
        self.rules.pause_after = pause_after
        self.rules.best_loss = best_loss
        self.rules.no_improvement_count = no_improvement_count
        self.rules.samples_seen = samples_seen
        self.rules.n_epochs = 0
        self.rules.step = 0

    @property
    def best_loss(self):
        return self.rules.best_loss

    @property
    def no_improvement_count(self):
        return self.rules.no_improvement_count

    @property
    def samples_seen(self):
        return self.rules.samples_seen

    @property
    def n_epochs(self):
        return self.rules.n_epochs

    @property
    def step(self):
        return self.rules.step


cdef class EpochTeam:
    """A fit's epochs: its data, batching and buffers, set up once.

    Parameters
    ----------
    plan : NetworkPlan
    data : TrainingData
        Of the plan's dtype and widths; at least one row.
    batch_size : int
        Rows per batch (clipped to the number of rows).
    n_parts : int
        Parts each batch is split into by rows, each taken by one thread. The
        result depends on it (the gradient is summed over the parts), never
        on the number of threads taking them.
    objective : Objective
    stop_flag : ndarray of uint8, shape (1,), optional
        Polled between batches; non-zero stops the epoch.
    check_signals : bool, default=False
        Check for signals (Ctrl-C) every 50 ms; only useful on the main thread.
    dropout_seed : array-like of 2 uint64, optional
        The key of the dropout masks; required when the plan has dropout
        rates, ignored otherwise.
    """

    cdef readonly NetworkPlan plan
    cdef readonly TrainingData data
    cdef readonly Py_ssize_t batch_size
    cdef readonly Py_ssize_t n_parts
    cdef ObjectiveTerms terms
    cdef object buffers          # (workspace, grads), the plan's dtype
    cdef EpochTask task

    def __cinit__(self, NetworkPlan plan not None, TrainingData data not None,
                  Py_ssize_t batch_size, Py_ssize_t n_parts, Objective objective not None,
                  const unsigned char[::1] stop_flag=None, bint check_signals=False,
                  dropout_seed=None):
        cdef Py_ssize_t n_params = plan.plan.n_params
        cdef Py_ssize_t n_rows = data.inputs.view.n_rows
        cdef const unsigned char* flag = NULL
        if data.inputs.dtype != plan.dtype:
            raise ValueError(f"the data must be {plan.dtype}, like the network")
        if data.inputs.view.n_features != plan.n_features:
            raise ValueError(f"the rows have {data.inputs.view.n_features} features, the "
                             f"network takes {plan.n_features}")
        if data.targets.n_outputs != plan.n_outputs:
            raise ValueError(f"the targets have {data.targets.n_outputs} columns, the "
                             f"network gives {plan.n_outputs}")
        if n_rows == 0:
            raise ValueError("X has no rows")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if n_parts < 1:
            raise ValueError(f"n_parts must be at least 1, got {n_parts}")
        if plan.plan.has_dropout and dropout_seed is None:
            raise ValueError("the network has dropout: its masks need a dropout_seed")
        if stop_flag is not None:
            if stop_flag.shape[0] < 1:
                raise ValueError("stop_flag must have one element")
            flag = &stop_flag[0]
        self.plan, self.data = plan, data
        self.batch_size = min(batch_size, n_rows)
        self.n_parts = n_parts
        self.terms = objective.terms
        cdef Py_ssize_t part_rows = (self.batch_size + n_parts - 1) // n_parts
        workspace = np.empty(n_parts * part_rows * plan.plan.training.row_width, plan.dtype)
        grads = np.empty(n_parts * n_params, plan.dtype)
        self.buffers = (workspace, grads, stop_flag)
        self.task.plan = &plan.plan
        self.task.terms = &self.terms
        self.task.inputs = &data.inputs.view
        self.task.targets = &data.targets
        self.task.batch_size = self.batch_size
        self.task.n_parts = n_parts
        self.task.part_rows = part_rows
        self.task.workspace = <void*>(<size_t>workspace.ctypes.data)
        self.task.grads = <void*>(<size_t>grads.ctypes.data)
        self.task.stop_flag = flag
        self.task.check_signals = check_signals
        self.task.dropout = plan.plan.has_dropout
        self.task.dropout_epoch = 0
        if plan.plan.has_dropout:
            seed = np.array(dropout_seed, dtype=np.uint64).reshape(2)
            self.task.dropout_seed[0], self.task.dropout_seed[1] = seed[0], seed[1]

    def run(self, floating[::1] params not None, UpdateRule rule not None,
            floating[::1] state not None, const Py_ssize_t[::1] order not None,
            int n_threads=1, unsigned long long samples_seen=0):
        """Run one epoch of minibatch training, GIL released.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
            Flat parameters, updated in place.
        rule : UpdateRule
            The optimizer's update; its ``step`` advances by one per batch.
        state : ndarray of shape (rule.n_state_vectors * n_params,)
            The optimizer's state vectors, updated in place.
        order : ndarray of intp, shape (n_rows,)
            Row order of this epoch; batches are consecutive slices of it.
        n_threads : int, default=1
            Threads taking the parts, at most ``n_parts`` (OpenMP; a build
            without it runs one). Keep BLAS to one thread meanwhile.
        samples_seen : int, default=0
            Samples trained on before this epoch: the epoch's key in the
            dropout masks.

        Returns
        -------
        status : int
            A value of ``STATUS``. After "stopped" or "diverged" the parameters
            hold a partly trained epoch; callers restore their own snapshot.
        accumulated_loss : float
            Sum over batches of batch objective times batch rows.
        n_batches : int
            Batches whose update was applied.
        barrier_wait : float
            The longest time one thread spent at barriers waiting for the
            others (0 on one thread).
        """
        _check_call(self, sizeof(floating) == sizeof(double), params.shape[0], rule,
                    state.shape[0], order, n_threads)
        cdef EpochTask task = self.task
        task.update = &rule.config
        task.order = &order[0]
        task.state = <void*>&state[0]
        task.dropout_epoch = samples_seen
        cdef EpochShared shared
        _start_shared(&shared, self.n_parts, rule.step)
        cdef floating* params_ptr = &params[0]
        cdef int status
        try:
            with nogil:
                status = _train_epoch(&task, params_ptr, n_threads, &shared)
        finally:
            free(shared.weight_parts)
        rule.step = shared.step
        return status, shared.accumulated_loss, shared.n_batches, shared.barrier_wait

    def run_epochs(self, floating[::1] params not None, UpdateRule rule not None,
                   floating[::1] state not None, Py_ssize_t[::1] order not None,
                   int n_threads, EpochRules rules not None, double[::1] losses not None,
                   floating[::1] kept_params=None, floating[::1] kept_state=None):
        """Run up to ``len(losses)`` epochs without returning to Python, GIL released.

        Between epochs the loop follows ``rules`` (the order, the learning
        rate, the plateau stop) and checks for signals, as :meth:`run` does
        between batches.

        Parameters
        ----------
        params, rule, state, n_threads :
            As for :meth:`run`; ``rule``'s learning rate follows the schedule.
        order : ndarray of intp, shape (n_rows,)
            The order, shuffled in place before each epoch by ``rules``.
        rules : EpochRules
            Its counters advance; ``rules.n_epochs`` tells how many epochs
            completed, also after an exception. Its ``samples_seen`` before
            an epoch is that epoch's key in the dropout masks.
        losses : ndarray of float64
            Receives each completed epoch's loss (as :meth:`run`'s
            accumulated loss over the rows); its length caps the epochs.
        kept_params, kept_state : ndarray, optional
            Receive copies of ``params`` and ``state`` after every completed
            epoch: after "stopped", "diverged" or an exception, the parameters
            hold a partial epoch and these the last complete one.

        Returns
        -------
        status : int
            A value of ``STATUS``: "complete" (every epoch ran), "plateau",
            "paused", "stopped" or "diverged" (a loss or a parameter was not
            finite after an epoch, or a batch loss within one).
        barrier_wait : float
            Summed over the epochs, each epoch's longest time one thread
            spent at barriers waiting for the others (0 on one thread).
        """
        cdef Py_ssize_t n_params = self.plan.plan.n_params
        _check_call(self, sizeof(floating) == sizeof(double), params.shape[0], rule,
                    state.shape[0], order, n_threads)
        if kept_params is not None and kept_params.shape[0] != n_params:
            raise ValueError(f"kept_params must have {n_params} entries")
        if kept_state is not None and kept_state.shape[0] != state.shape[0]:
            raise ValueError(f"kept_state must have {state.shape[0]} entries")
        cdef EpochTask task = self.task
        task.update = &rule.config
        task.order = &order[0]
        task.state = <void*>&state[0]
        cdef EpochShared shared
        _start_shared(&shared, self.n_parts, rule.step)
        cdef floating* params_ptr = &params[0]
        cdef floating* kept_params_ptr = NULL if kept_params is None else &kept_params[0]
        cdef floating* kept_state_ptr = NULL if kept_state is None else &kept_state[0]
        cdef double* losses_ptr = NULL if losses.shape[0] == 0 else &losses[0]
        cdef int status
        rules.rules.n_epochs = 0
        rules.rules.step = rule.step
        # The bit generator's own lock, held as numpy's methods hold it.
        lock = (contextlib.nullcontext() if rules.bit_generator is None
                else rules.bit_generator.lock)
        try:
            with lock:
                with nogil:
                    status = _run_epochs(&task, &rule.config, params_ptr, n_threads, &shared,
                                         &rules.rules, losses_ptr, losses.shape[0],
                                         kept_params_ptr, kept_state_ptr, state.shape[0])
        finally:
            free(shared.weight_parts)
            rule.step = rules.rules.step
        return status, shared.barrier_wait


cdef int _check_call(EpochTeam team, bint is_double, Py_ssize_t n_params_given,
                     UpdateRule rule, Py_ssize_t n_state_given,
                     const Py_ssize_t[::1] order, int n_threads) except -1:
    """The checks every run makes of its arguments (the rest is fixed per team)."""
    cdef Py_ssize_t n_params = team.plan.plan.n_params
    cdef Py_ssize_t n_rows = team.data.inputs.view.n_rows, k
    if is_double != (team.plan.dtype == np.float64):
        raise ValueError(f"params must be {team.plan.dtype}, like the network")
    if n_params_given != n_params:
        raise ValueError(f"params must have {n_params} entries")
    if n_state_given != rule.n_state_vectors * n_params:
        raise ValueError(f"optimizer state must have {rule.n_state_vectors * n_params} "
                         "entries")
    if order.shape[0] != n_rows:
        raise ValueError("order must have one entry per sample")
    for k in range(n_rows):
        if not 0 <= order[k] < n_rows:
            raise ValueError("order holds indices outside [0, n_samples)")
    if not 1 <= n_threads <= team.n_parts:
        raise ValueError(f"n_threads must be in [1, n_parts = {team.n_parts}], "
                         f"got {n_threads}")
    return 0


cdef int _start_shared(EpochShared* shared, Py_ssize_t n_parts, long step) except -1:
    shared.status = EPOCH_COMPLETE
    shared.step = step
    shared.accumulated_loss = 0
    shared.n_batches = 0
    shared.barrier_wait = 0
    # A team has at most one thread per part (_check_call).
    shared.weight_parts = <double*>malloc(3 * n_parts * sizeof(double))
    if shared.weight_parts == NULL:
        raise MemoryError()
    shared.loss_parts = shared.weight_parts + n_parts
    shared.thread_waits = shared.weight_parts + 2 * n_parts
    return 0


cdef inline void _update_range(
    const EpochTask* task, long step, floating* params, const floating* grads,
    floating* state, Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t lo, Py_ssize_t hi, double l2,
    double l1,
) noexcept nogil:
    """Update the parameters in both [p0, p1) (this thread's) and [lo, hi)."""
    cdef Py_ssize_t n_params = task.plan.n_params
    lo = max(lo, p0)
    hi = min(hi, p1)
    if hi > lo:
        apply_update(task.update, step, params + lo, grads + lo, task.n_parts, n_params,
                     state + lo, n_params, hi - lo, l2, l1)


cdef double _part_gradient(
    const EpochTask* task, const floating* params, Py_ssize_t part, Py_ssize_t start,
    Py_ssize_t n_rows, double weight_sum, floating* ws, SparseRows* sparse,
) noexcept nogil:
    """Gradient of one part of a batch's rows into that part's block; its objective.

    Part ``part`` of ``task.n_parts`` holds the batch rows ``share(n_rows,
    part, n_parts)`` onwards; part 0's objective carries the L2 penalty, whose
    gradient the update adds (it reads the weights anyway).
    """
    cdef const Plan* plan = task.plan
    cdef const TargetView* targets = task.targets
    cdef Py_ssize_t n_features = task.inputs.n_features
    cdef Py_ssize_t n_outputs = targets.n_outputs, ws_rows = task.part_rows
    cdef Py_ssize_t r0 = share(n_rows, part, task.n_parts)
    cdef Py_ssize_t my_rows = share(n_rows, part + 1, task.n_parts) - r0
    cdef const Py_ssize_t* idx = task.order + start + r0
    cdef floating* y_buf = ws + ws_rows * plan.training.y
    cdef const floating* xb = NULL
    cdef const floating* yb
    cdef const floating* swb = NULL
    cdef DropoutKey key
    cdef DropoutKey* dropout = NULL
    if task.dropout:
        key.seed[0], key.seed[1] = task.dropout_seed[0], task.dropout_seed[1]
        key.epoch = task.dropout_epoch
        key.batch = <uint64_t>(start // task.batch_size)
        key.rows = idx
        key.row0 = 0
        dropout = &key
    # Unshuffled epochs and runs of consecutive rows are read in place.
    cdef bint in_place = my_rows == 0 or is_run(idx, my_rows)
    if sparse != NULL:
        sparse.rows = idx
    else:
        xb = batch_rows(<const floating*>task.inputs.dense, idx, my_rows, n_features,
                        in_place, ws + ws_rows * plan.training.x)
    if targets.labels != NULL:
        one_hot_rows(targets.labels, idx, my_rows, n_outputs, y_buf)
        yb = y_buf
    else:
        yb = batch_rows(<const floating*>targets.Y, idx, my_rows, n_outputs, in_place, y_buf)
    if targets.sample_weight != NULL:
        swb = batch_rows(<const floating*>targets.sample_weight, idx, my_rows, 1, in_place,
                         ws + ws_rows * plan.training.weight)
    return loss_gradient_rows(
        plan, task.terms, params, <floating*>task.grads + part * plan.n_params, xb, sparse,
        yb, swb, my_rows, weight_sum, PENALTY_IN_OBJECTIVE if part == 0 else PENALTY_NONE,
        ws, ws_rows, dropout)


cdef double _part_weight(const EpochTask* task, const floating* sample_weight,
                         Py_ssize_t part, Py_ssize_t start, Py_ssize_t n_rows) noexcept nogil:
    """Sum of the sample weights of one part of a batch's rows."""
    cdef Py_ssize_t k, r0 = share(n_rows, part, task.n_parts)
    cdef Py_ssize_t r1 = share(n_rows, part + 1, task.n_parts)
    cdef double total = 0
    for k in range(r0, r1):
        total += sample_weight[task.order[start + k]]
    return total


cdef inline void _timed_barrier(bint timed, double* waited) noexcept nogil:
    # Every thread of a team times its waits: a team in which some thread
    # keeps the others waiting (another program on its core, or a thread
    # woken late) is better off on one thread.
    cdef double before
    if timed:
        before = fastnn_seconds()
        fastnn_barrier()
        waited[0] += fastnn_seconds() - before
    else:
        fastnn_barrier()


cdef void _epoch_worker(const EpochTask* task, floating* params,
                        EpochShared* shared) noexcept nogil:
    """One thread's share of an epoch; every thread of the team runs it.

    Each batch is split by rows into ``task.n_parts`` parts, which the team's
    threads take in turn (thread t: parts t, t + n_threads, ...). The gradient
    of each part's share of the batch objective goes to the part's own block
    (``grads + part * n_params``; part 0 adds the L2 penalty). After a
    barrier, each thread updates one slice of the parameter vector, summing
    the blocks in part order as it goes, so the update is as parallel as the
    gradient, and the result depends on the number of parts, never on the
    number of threads. With one part this is the plain serial loop.

    Every decision that ends the loop (divergence, the stop flag, a signal)
    is taken from values all threads read after the same barrier, so the
    team always leaves together.
    """
    cdef Py_ssize_t n_samples = task.inputs.n_rows, batch_size = task.batch_size
    cdef Py_ssize_t n_params = task.plan.n_params, n_parts = task.n_parts
    cdef floating* grads = <floating*>task.grads
    cdef floating* state = <floating*>task.state
    cdef const void* sample_weight = task.targets.sample_weight
    cdef int tid = fastnn_thread_num(), n_threads = fastnn_num_threads()
    cdef floating* ws = (<floating*>task.workspace
                         + tid * task.part_rows * task.plan.training.row_width)
    # The slice of the parameters this thread updates, aligned to 16
    # elements so no two threads write one cache line.
    cdef Py_ssize_t p0 = min(n_params, (share(n_params, tid, n_threads) + 15) // 16 * 16)
    cdef Py_ssize_t p1 = min(n_params, (share(n_params, tid + 1, n_threads) + 15) // 16 * 16)
    if tid == n_threads - 1:
        p1 = n_params
    cdef Py_ssize_t n_weights = task.plan.n_weights
    # The weights whose L2 term the gradient already holds: none, or a CSR
    # first layer's.
    cdef Py_ssize_t seeded0 = task.plan.layers[0].w if task.inputs.sparse else 0
    cdef Py_ssize_t seeded1 = (seeded0 + task.plan.layers[0].n_in * task.plan.layers[0].n_z
                               if task.inputs.sparse else 0)
    cdef Py_ssize_t batch, start, n_rows, part
    cdef Py_ssize_t n_epoch_batches = (n_samples + batch_size - 1) // batch_size
    cdef double weight_sum, batch_objective, l2, l1
    cdef double last_check = fastnn_seconds() if task.check_signals and tid == 0 else 0.0
    cdef bint timed = n_threads > 1
    cdef double waited = 0.0
    cdef long step = shared.step
    cdef SparseRows batch_rows
    cdef SparseRows* sparse = NULL
    if task.inputs.sparse:
        # Sparse batches are never copied: the first layer reads the rows
        # named by the order array straight from the CSR arrays.
        batch_rows = task.inputs.csr
        sparse = &batch_rows

    for batch in range(n_epoch_batches):
        start = batch * batch_size
        n_rows = min(batch_size, n_samples - start)
        if sample_weight == NULL:
            weight_sum = <double>n_rows
        else:
            # The whole batch's weight scales every part's gradient.
            part = tid
            while part < n_parts:
                shared.weight_parts[part] = _part_weight(
                    task, <const floating*>sample_weight, part, start, n_rows)
                part += n_threads
            _timed_barrier(timed, &waited)
            weight_sum = 0
            for part in range(n_parts):
                weight_sum += shared.weight_parts[part]

        part = tid
        while part < n_parts:
            shared.loss_parts[part] = _part_gradient(task, params, part, start, n_rows,
                                                     weight_sum, ws, sparse)
            part += n_threads
        _timed_barrier(timed, &waited)
        batch_objective = 0
        for part in range(n_parts):
            batch_objective += shared.loss_parts[part]
        if not isfinite(batch_objective):
            if tid == 0:
                shared.status = EPOCH_DIVERGED
            break

        step += 1
        # The L2 term reaches the weights' gradients here, but for a CSR
        # first layer's, which part 0 seeded (see loss_gradient_rows); the
        # biases have none.
        l2 = task.terms.alpha / weight_sum
        l1 = task.terms.l1 / weight_sum
        _update_range(task, step, params, grads, state, p0, p1, 0, seeded0, l2, l1)
        _update_range(task, step, params, grads, state, p0, p1, seeded0, seeded1, 0.0, l1)
        _update_range(task, step, params, grads, state, p0, p1, seeded1, n_weights, l2, l1)
        _update_range(task, step, params, grads, state, p0, p1, n_weights, n_params, 0.0,
                      0.0)
        if tid == 0:
            shared.accumulated_loss += batch_objective * n_rows
            shared.n_batches += 1
            shared.step = step
            if task.stop_flag != NULL and task.stop_flag[0]:
                shared.status = EPOCH_STOPPED
            elif (task.check_signals
                  and fastnn_seconds() - last_check > FASTNN_SIGNAL_CHECK_INTERVAL):
                last_check = fastnn_seconds()
                if signals_raised() != 0:
                    shared.status = EPOCH_INTERRUPTED
        # Nobody starts the next batch before every slice is updated, and
        # everybody sees the same status.
        _timed_barrier(timed, &waited)
        if shared.status != EPOCH_COMPLETE:
            break
    shared.thread_waits[tid] = waited


cdef int _train_epoch(const EpochTask* task, floating* params, int n_threads,
                      EpochShared* shared) except -1 nogil:
    cdef int t
    if n_threads <= 1:
        _epoch_worker(task, params, shared)
        shared.barrier_wait = 0.0
    else:
        with parallel(num_threads=n_threads):
            _epoch_worker(task, params, shared)
        shared.barrier_wait = shared.thread_waits[0]
        for t in range(1, n_threads):
            shared.barrier_wait = max(shared.barrier_wait, shared.thread_waits[t])
    if shared.status == EPOCH_INTERRUPTED:
        return -1  # the handler's exception is set (see runtime.signals_raised)
    return shared.status


cdef bint _all_finite(const floating* values, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint finite = True
    for i in range(n):
        finite = finite & isfinite(values[i])
    return finite


cdef int _after_epoch(BetweenEpochs* rules, UpdateConfig* update,
                      double loss) noexcept nogil:
    """scikit-learn's bookkeeping after an epoch, in its order; "plateau" or "complete"."""
    cdef bint plateau_rule = rules.n_iter_no_change >= 0
    if plateau_rule:
        if loss > rules.best_loss - rules.tol:
            rules.no_improvement_count += 1
        else:
            rules.no_improvement_count = 0
        if loss < rules.best_loss:
            rules.best_loss = loss
    if rules.schedule == SCHEDULE_INVSCALING:
        update.learning_rate = (rules.learning_rate_init
                                / pow(<double>(rules.samples_seen + 1), rules.power_t))
    if plateau_rule and rules.no_improvement_count > rules.n_iter_no_change:
        if rules.schedule != SCHEDULE_ADAPTIVE or update.learning_rate <= 1e-6:
            return EPOCH_PLATEAU
        update.learning_rate /= 5.0
        rules.no_improvement_count = 0
    return EPOCH_COMPLETE


cdef int _run_epochs(EpochTask* task, UpdateConfig* update, floating* params, int n_threads,
                     EpochShared* shared, BetweenEpochs* rules, double* losses,
                     Py_ssize_t max_epochs, floating* kept_params, floating* kept_state,
                     Py_ssize_t n_state) except -1 nogil:
    """Epochs and the rules between them, until one of them ends the run."""
    cdef Py_ssize_t n_rows = task.inputs.n_rows, n_params = task.plan.n_params
    cdef floating* state = <floating*>task.state
    cdef double started = fastnn_seconds(), last_check = started, now, loss
    cdef int status = EPOCH_COMPLETE
    cdef double waited = 0.0
    while rules.n_epochs < max_epochs:
        if rules.bitgen != NULL:
            shuffle_rows(rules.bitgen, <Py_ssize_t*>task.order, n_rows)
        task.dropout_epoch = <uint64_t>rules.samples_seen
        shared.status = EPOCH_COMPLETE
        shared.accumulated_loss = 0
        shared.n_batches = 0
        status = _train_epoch(task, params, n_threads, shared)  # -1: a signal's exception
        waited += shared.barrier_wait
        if status != EPOCH_COMPLETE:
            break
        loss = shared.accumulated_loss / n_rows
        if not isfinite(loss) or not _all_finite(params, n_params):
            status = EPOCH_DIVERGED
            break
        losses[rules.n_epochs] = loss
        rules.n_epochs += 1
        rules.samples_seen += n_rows
        rules.step = shared.step
        status = _after_epoch(rules, update, loss)
        if kept_params != NULL:
            memcpy(kept_params, params, n_params * sizeof(floating))
        if kept_state != NULL:
            memcpy(kept_state, state, n_state * sizeof(floating))
        if status != EPOCH_COMPLETE or rules.n_epochs == max_epochs:
            break
        now = fastnn_seconds()
        if now - started > rules.pause_after:
            status = EPOCH_PAUSED
            break
        # Epochs shorter than the check interval never check within.
        if task.check_signals and now - last_check > FASTNN_SIGNAL_CHECK_INTERVAL:
            last_check = now
            if signals_raised() != 0:
                shared.barrier_wait = waited
                return -1
    shared.barrier_wait = waited
    return status
