"""Training: the train state and jitted step, losses and metrics, checkpoints, the run directory, ``fit``,
and parameters alone for inference (``save_params`` / ``load_params``)."""

from seqjax.train.checkpoint import CheckpointError as CheckpointError, Checkpointer as Checkpointer
from seqjax.train.export import load_params as load_params, load_run as load_run, read_meta as read_meta, run_params as run_params, save_params as save_params
from seqjax.train.loop import EarlyStopping as EarlyStopping, NonFiniteError as NonFiniteError, fit as fit
from seqjax.train.losses import add as add, cross_entropy as cross_entropy, summarize as summarize
from seqjax.train import distributed as distributed
from seqjax.train.parallel import DataParallel as DataParallel
from seqjax.train.run import Progress as Progress, Run as Run
from seqjax.train.step import (
    CountingJit as CountingJit,
    TrainState as TrainState,
    evaluate as evaluate,
    freeze as freeze,
    make_eval_step as make_eval_step,
    make_train_step as make_train_step,
    optimizer as optimizer,
)
