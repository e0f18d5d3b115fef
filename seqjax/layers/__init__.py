"""The small pieces every model uses; nothing here imports recurrent code.

  dense.py           dense (x @ w + b over any leading axes), Dense, activations, initialisers
  embedding.py       Embedding (padding row kept zero, pretrained and frozen tables, tied readout)
  normalization.py   LayerNorm
  dropout.py         Dropout (explicit key), dropout_mask
"""

from seqjax.layers.dense import ACTIVATIONS as ACTIVATIONS, INITIALIZERS as INITIALIZERS, Dense as Dense, activation as activation, dense as dense, uniform_init as uniform_init
from seqjax.layers.dropout import Dropout as Dropout, dropout_mask as dropout_mask
from seqjax.layers.embedding import Embedding as Embedding
from seqjax.layers.normalization import LayerNorm as LayerNorm
