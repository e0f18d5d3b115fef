"""seqjax: pure-functional sequence models in JAX.

The table of contents, by lecture idea (module in brackets):

  cells        Elman, Jordan (simple RNNs), GRU (reset-before and reset-after), LSTM,
               PrototypeLSTM, PeepholeLSTM, MinGRU, MinLSTM (parallel scan), Hopfield  [cells/]
  sequences    unroll (one lax.scan), loop_unroll (the plain loop) [unroll]; sequence_mask,
               masked_scan, Constant [masking]; linear_scan [scan]
  layers       dense, Dense, Embedding, LayerNorm, Dropout  [layers/]
  wrappers     Stack (deep, residual), Bidirectional, VariationalDropout  [wrappers]
  attention    additive (Bahdanau/GNMT), Luong dot and general, scaled dot-product  [attention];
               AttentionDecoder, a cell that attends over an encoder memory  [attention_decoder]
  transformers MultiHeadAttention, KVCache [multi_head_attention]; SinusoidalPositions, LearnedPositions
               [positional]; FeedForward, EncoderLayer, DecoderLayer, Encoder, Decoder (post- or pre-norm,
               KV-cached step) [transformer]; models.Transformer, models.TransformerLM
  pooling      last, final_output, masked_mean, masked_max, AttentionPooling  [pooling]
  convolution  conv1d, TextCNN (Kim 2014), ConvRNN (CNN+RNN), ImageCNN, max_norm  [conv]
  models       seqjax.models: Classifier (many to one), Seq2Seq, Captioner (one to many), Transformer,
               TransformerLM
  decoding     seqjax.decoding: greedy, sample, beam_search for any step function
  interop      from_torch, torch_final_state, to_torch (the reverse)  [interop/]
  diagnostics  gradient_norms_through_time (vanishing / exploding gradients)
  data         seqjax.data: Vocab, pad, Batches, TokenStream, datasets (loaders with checked downloads)
  train        seqjax.train: TrainState, make_train_step, cross_entropy, Checkpointer, Run, fit, DataParallel
  kernels      seqjax.kernels: fused backward passes, cuDNN (``seqjax.cudnn``), and ``ScanOptions``, which picks among them
  host memory  seqjax.host_memory: keep_freed_memory (no page faults per step on the CPU)
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
from seqjax.attention_decoder import AttentionDecoder as AttentionDecoder, AttentionOutput as AttentionOutput, AttentionState as AttentionState
from seqjax.cell import Cell as Cell, LSTMState as LSTMState, RNNState as RNNState
from seqjax.kernels.options import ScanOptions as ScanOptions
from seqjax.cells.elman import Elman as Elman, Jordan as Jordan
from seqjax.cells.gru import GRU as GRU
from seqjax.cells.hopfield import Hopfield as Hopfield, Recall as Recall
from seqjax.cells.lstm import LSTM as LSTM, PeepholeLSTM as PeepholeLSTM, PrototypeLSTM as PrototypeLSTM
from seqjax.cells.minimal import MinGRU as MinGRU, MinLSTM as MinLSTM
from seqjax.conv import ConvRNN as ConvRNN, ImageCNN as ImageCNN, TextCNN as TextCNN, conv1d as conv1d, max_norm as max_norm
from seqjax.diagnostics import gradient_norms_through_time as gradient_norms_through_time
from seqjax import host_memory as host_memory
from seqjax.interop.torch import from_torch as from_torch, torch_final_state as torch_final_state
from seqjax.interop.to_torch import to_torch as to_torch
from seqjax.kernels import cudnn as cudnn
from seqjax.layers import Dense as Dense, Dropout as Dropout, Embedding as Embedding, LayerNorm as LayerNorm, dense as dense
from seqjax.masking import Constant as Constant, masked_scan as masked_scan, sequence_mask as sequence_mask
from seqjax.multi_head_attention import KVCache as KVCache, MultiHeadAttention as MultiHeadAttention
from seqjax.positional import LearnedPositions as LearnedPositions, SinusoidalPositions as SinusoidalPositions
from seqjax.positional import sinusoidal_table as sinusoidal_table
from seqjax.pooling import AttentionPooling as AttentionPooling, final_output as final_output, last as last
from seqjax.pooling import masked_max as masked_max, masked_mean as masked_mean
from seqjax.scan import linear_scan as linear_scan
from seqjax.transformer import Decoder as Decoder, DecoderLayer as DecoderLayer, DecoderState as DecoderState
from seqjax.transformer import Encoder as Encoder, EncoderLayer as EncoderLayer, FeedForward as FeedForward, LayerCache as LayerCache
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
