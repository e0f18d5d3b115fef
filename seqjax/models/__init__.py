"""The problem types as small pure models built from seqjax's cells, layers and decoding.

  classifier.py  Classifier: many to one, from any cell, stack, bidirectional wrapper, TextCNN or
                 ConvRNN; rand / static / non-static / multichannel word vectors (Kim 2014)
  captioner.py   Captioner: one to many, an image CNN and a word decoder that starts from the image
                 ("init") or attends over its feature map ("attend"); generation through seqjax.decoding
  transformer.py Transformer: the encoder–decoder transformer, Seq2Seq's interface (loss, step, generate)
  language_model.py  TransformerLM: a decoder-only (GPT-style) language model with a KV cache
  recurrent_lm.py    RecurrentLM: embedding, any cell, readout (char-rnn); stateful truncated-BPTT training
  seq2seq.py     Seq2Seq: encoder–decoder with a bridge, optional attention, teacher forcing,
                 scheduled sampling, tied or shared embeddings; generation through seqjax.decoding
"""

from seqjax.models.captioner import Captioner as Captioner
from seqjax.models.classifier import Classifier as Classifier
from seqjax.models.seq2seq import Seq2Seq as Seq2Seq
from seqjax.models.language_model import TransformerLM as TransformerLM
from seqjax.models.recurrent_lm import RecurrentLM as RecurrentLM
from seqjax.models.transformer import Transformer as Transformer
from seqjax.models.saved import Loaded as Loaded, describe as describe, load as load, rebuild as rebuild, save_model as save_model
