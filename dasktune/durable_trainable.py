"""``DurableTrainable``, for code written against Ray's durable-checkpoint class."""

from __future__ import annotations

from .trainable import Trainable


class DurableTrainable(Trainable):
    """A Trainable whose checkpoints outlive the machine that wrote them.

    In Ray this subclass uploads each checkpoint to ``upload_dir`` after writing it locally.
    In dasktune every Trainable already behaves so: the worker commits each checkpoint straight
    into the experiment's storage (``local_dir``/``upload_dir``, any fsspec URL such as
    ``s3://``) before it counts, and any worker restores from there. The class exists so Ray
    code that subclasses it runs unchanged; it adds nothing to ``Trainable``. Point
    ``upload_dir`` (or ``local_dir``) at remote storage to make checkpoints durable beyond
    one host.
    """
