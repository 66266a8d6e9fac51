"""Names of the fields dasktune adds to every result (the same keys as ``ray.tune.result``)."""

from __future__ import annotations

TRAINING_ITERATION = "training_iteration"
TIME_THIS_ITER_S = "time_this_iter_s"
TIME_TOTAL_S = "time_total_s"
TIME_SINCE_RESTORE = "time_since_restore"
ITERATIONS_SINCE_RESTORE = "iterations_since_restore"
TIMESTEPS_THIS_ITER = "timesteps_this_iter"
TIMESTEPS_TOTAL = "timesteps_total"
TIMESTEPS_SINCE_RESTORE = "timesteps_since_restore"
EPISODES_THIS_ITER = "episodes_this_iter"
EPISODES_TOTAL = "episodes_total"
DONE = "done"
SHOULD_CHECKPOINT = "should_checkpoint"
EXPERIMENT_ID = "experiment_id"
TRIAL_ID = "trial_id"
CONFIG = "config"
NODE_IP = "node_ip"
HOSTNAME = "hostname"
PID = "pid"
DATE = "date"
TIMESTAMP = "timestamp"

# Marks the closing result of a function trainable that returned: it repeats the last reported
# result with ``done=True`` and must not be logged as a new row (Ray uses the same key).
RESULT_DUPLICATE = "__duplicate__"

# Files in every trial directory.
PARAMS_FILE = "params.json"
PARAMS_PICKLE_FILE = "params.pkl"
RESULT_FILE = "result.json"
PROGRESS_FILE = "progress.csv"
ERROR_FILE = "error.txt"
EXPERIMENT_STATE_FILE = "experiment_state.json"
