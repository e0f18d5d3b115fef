"""The problem types as small pure models built from seqjax's cells, layers and decoding.

  seq2seq.py   Seq2Seq: encoder–decoder with a bridge, optional attention, teacher forcing,
               scheduled sampling, tied or shared embeddings; generation through seqjax.decoding
"""

from seqjax.models.seq2seq import Seq2Seq as Seq2Seq
