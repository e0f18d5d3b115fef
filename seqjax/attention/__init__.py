"""Attention, and the models' pieces built on it.

  scores.py        additive (Bahdanau/GNMT), Luong dot and general, scaled dot-product; masked_softmax
  multi_head.py    MultiHeadAttention and its KVCache
  transformer.py   FeedForward, EncoderLayer, DecoderLayer, Encoder, Decoder (post- or pre-norm, KV-cached step)
  decoder.py       AttentionDecoder: a recurrent cell that attends over an encoder memory

``seqjax.attention`` was one module before; its names are here still.
"""

from seqjax.attention.scores import (
    ATTENTIONS as ATTENTIONS,
    AdditiveAttention as AdditiveAttention,
    LuongAttention as LuongAttention,
    Memory as Memory,
    additive_attention as additive_attention,
    dot_attention as dot_attention,
    general_attention as general_attention,
    masked_softmax as masked_softmax,
    scaled_dot_product_attention as scaled_dot_product_attention,
)
