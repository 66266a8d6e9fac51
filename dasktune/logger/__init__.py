"""Loggers at Ray's path ``ray.tune.logger``: what each trial's results are written to.

Two shapes, as in Ray. 0.8's :class:`Logger` classes, ``tune.run(loggers=[...])``, which replace
the defaults (:data:`DEFAULT_LOGGERS`: JSON, CSV and TensorBoard; ``loggers=[]`` writes none of
them); and 1.x's :class:`LoggerCallback` instances in ``callbacks=``, added to the defaults.
``MLFLowLogger`` (also ``MLFlowLogger``) logs to MLflow when it is installed. Every logger
runs on the driver. ``params.json`` and ``params.pkl`` are always written.
"""

from __future__ import annotations

from .base import Logger, LoggerCallback, UnifiedLogger
from .csv_logger import CSVLogger, CSVLoggerCallback
from .json_logger import JsonLogger, JsonLoggerCallback
from .mlflow_logger import MLFLowLogger, MLFlowLogger
from .tbx_logger import TBXLogger, TBXLoggerCallback

DEFAULT_LOGGERS: tuple[type[Logger], ...] = (JsonLogger, CSVLogger, TBXLogger)

__all__ = [
    "DEFAULT_LOGGERS",
    "CSVLogger",
    "CSVLoggerCallback",
    "JsonLogger",
    "JsonLoggerCallback",
    "Logger",
    "LoggerCallback",
    "MLFLowLogger",
    "MLFlowLogger",
    "TBXLogger",
    "TBXLoggerCallback",
    "UnifiedLogger",
]
