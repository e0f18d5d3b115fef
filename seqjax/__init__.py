"""seqjax: pure-functional recurrent sequence models in JAX.

The table of contents, by lecture idea:

  cells        Elman, Jordan (simple RNNs), GRU (reset-before and reset-after), LSTM,
               PrototypeLSTM, PeepholeLSTM, MinGRU, MinLSTM (parallel scan), Hopfield
  sequences    unroll (one lax.scan), loop_unroll (the plain loop), linear_scan
  layers       dense (x @ w + b over any leading axes, as one 2-D matmul)
  wrappers     Stack (deep, residual), Bidirectional, VariationalDropout
  interop      from_torch, torch_final_state
  diagnostics  gradient_norms_through_time (vanishing / exploding gradients)
  data         seqjax.data: Vocab, pad, Batches, TokenStream, datasets (loaders with checked downloads)
  train        seqjax.train: TrainState, make_train_step, cross_entropy, Checkpointer, Run, fit, DataParallel
  host memory  seqjax.host_memory: keep_freed_memory (no page faults per step on the CPU)
  cuDNN        seqjax.cudnn: the LSTM on cuDNN's kernel, unroll(..., cudnn=True) (CUDA GPUs)
"""

from seqjax.cell import Cell as Cell, LSTMState as LSTMState, RNNState as RNNState, ScanOptions as ScanOptions, dense as dense
from seqjax.cells.elman import Elman as Elman, Jordan as Jordan
from seqjax.cells.gru import GRU as GRU
from seqjax.cells.hopfield import Hopfield as Hopfield, Recall as Recall
from seqjax.cells.lstm import LSTM as LSTM, PeepholeLSTM as PeepholeLSTM, PrototypeLSTM as PrototypeLSTM
from seqjax.cells.minimal import MinGRU as MinGRU, MinLSTM as MinLSTM
from seqjax.diagnostics import gradient_norms_through_time as gradient_norms_through_time
from seqjax.interop.torch import from_torch as from_torch, torch_final_state as torch_final_state
from seqjax.scan import linear_scan as linear_scan
from seqjax.unroll import loop_unroll as loop_unroll, unroll as unroll
from seqjax.wrappers import (
    Bidirectional as Bidirectional,
    BidirectionalState as BidirectionalState,
    DropoutState as DropoutState,
    Stack as Stack,
    StackState as StackState,
    VariationalDropout as VariationalDropout,
)

__version__ = "0.1.0"
