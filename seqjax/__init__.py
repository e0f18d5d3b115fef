"""seqjax: pure-functional sequence models in JAX.

The table of contents, by lecture idea (package/module in brackets; the README's "Architecture"
section gives the layers they stand in):

  core         types, argument checks, sequence_mask, masked_scan, Constant [core/masking];
               linear_scan [core/scan]; plots; host memory (keep_freed_memory)
  layers       dense, Dense, Embedding, LayerNorm, Dropout, SinusoidalPositions, LearnedPositions  [layers/]
  kernels      fused backward passes, cuDNN (``seqjax.cudnn``), and ``ScanOptions``, the one
               speed-option type, with the one function that picks among them  [kernels/]
  cells        the cell interface (RecurrentCell, Cell) [cells/protocol]; Elman, Jordan, GRU
               (reset-before and reset-after), LSTM, PrototypeLSTM, PeepholeLSTM, MinGRU, MinLSTM
               (parallel scan), Hopfield  [cells/]
  attention    additive (Bahdanau/GNMT), Luong dot and general, scaled dot-product [attention/scores];
               MultiHeadAttention, KVCache [attention/multi_head]; FeedForward, EncoderLayer,
               DecoderLayer, Encoder, Decoder [attention/transformer]; AttentionDecoder, a cell that
               attends over an encoder memory [attention/decoder]
  sequences    unroll (one lax.scan), loop_unroll (the plain loop) [sequences/unroll]; Stack,
               Bidirectional, VariationalDropout [sequences/wrappers]; last, final_output,
               masked_mean, masked_max, AttentionPooling [sequences/pooling]; conv1d, TextCNN,
               ConvRNN, ImageCNN, max_norm [sequences/conv]; gradient_norms_through_time [sequences/diagnostics]
  decoding     seqjax.decoding: greedy, sample, beam over any Generator; generate, generate_all
  train        seqjax.train: TrainState, make_train_step, cross_entropy, Checkpointer, Run, fit,
               DataParallel, distributed; the command line of experiments [train/config]
  data         seqjax.data: Vocab, pad, Batches, TokenStream, datasets (loaders with checked downloads)
  embeddings   seqjax.embeddings: word vectors, GloVe and skip-gram training, analogies, debiasing, retrofitting
  interop      from_torch, torch_final_state, to_torch (the reverse); Equinox and Flax NNX  [interop/]
  models       seqjax.models: Classifier (many to one), Seq2Seq, Captioner (one to many), Transformer,
               TransformerLM, RecurrentLM
"""

from seqjax.attention import (
    AdditiveAttention as AdditiveAttention,
    LuongAttention as LuongAttention,
    Memory as Memory,
    additive_attention as additive_attention,
    dot_attention as dot_attention,
    general_attention as general_attention,
    masked_softmax as masked_softmax,
    scaled_dot_product_attention as scaled_dot_product_attention,
)
from seqjax.attention.decoder import AttentionDecoder as AttentionDecoder, AttentionOutput as AttentionOutput, AttentionState as AttentionState
from seqjax.cells.protocol import Cell as Cell, LSTMState as LSTMState, RNNState as RNNState
from seqjax.kernels.options import ScanOptions as ScanOptions
from seqjax.cells.elman import Elman as Elman, Jordan as Jordan
from seqjax.cells.gru import GRU as GRU
from seqjax.cells.hopfield import Hopfield as Hopfield, Recall as Recall
from seqjax.cells.lstm import LSTM as LSTM, PeepholeLSTM as PeepholeLSTM, PrototypeLSTM as PrototypeLSTM
from seqjax.cells.minimal import MinGRU as MinGRU, MinLSTM as MinLSTM
from seqjax.sequences.conv import ConvRNN as ConvRNN, ImageCNN as ImageCNN, TextCNN as TextCNN, conv1d as conv1d, max_norm as max_norm
from seqjax.sequences.diagnostics import gradient_norms_through_time as gradient_norms_through_time
from seqjax.core import host_memory as host_memory, plots as plots
from seqjax.interop.torch import from_torch as from_torch, torch_final_state as torch_final_state
from seqjax.interop.to_torch import to_torch as to_torch
from seqjax.kernels import cudnn as cudnn
from seqjax.layers import Dense as Dense, Dropout as Dropout, Embedding as Embedding, LayerNorm as LayerNorm, dense as dense
from seqjax.core.masking import Constant as Constant, masked_scan as masked_scan, sequence_mask as sequence_mask
from seqjax.attention.multi_head import KVCache as KVCache, MultiHeadAttention as MultiHeadAttention
from seqjax.layers.positional import LearnedPositions as LearnedPositions, SinusoidalPositions as SinusoidalPositions
from seqjax.layers.positional import sinusoidal_table as sinusoidal_table
from seqjax.sequences.pooling import AttentionPooling as AttentionPooling, final_output as final_output, last as last
from seqjax.sequences.pooling import masked_max as masked_max, masked_mean as masked_mean
from seqjax.core.scan import linear_scan as linear_scan
from seqjax.attention.transformer import Decoder as Decoder, DecoderLayer as DecoderLayer, DecoderState as DecoderState
from seqjax.attention.transformer import Encoder as Encoder, EncoderLayer as EncoderLayer, FeedForward as FeedForward, LayerCache as LayerCache
from seqjax.sequences.unroll import loop_unroll as loop_unroll, unroll as unroll
from seqjax.sequences.wrappers import (
    Bidirectional as Bidirectional,
    BidirectionalState as BidirectionalState,
    DropoutState as DropoutState,
    Stack as Stack,
    StackState as StackState,
    VariationalDropout as VariationalDropout,
)
from seqjax.core import moved as _moved
from seqjax.sequences import pooling as pooling
from seqjax.models.saved import Loaded as Loaded, load as load, save_model as save_model

_moved.install()  # the module paths of the release before (seqjax/core/moved.py)

__version__ = "0.1.0"
