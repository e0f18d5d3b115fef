"""Data: vocabularies, padding and bucketing, resumable batch iterators, dataset loaders."""

from seqjax.data import datasets as datasets, labelled as labelled, pairs as pairs
from seqjax.data.batching import Batches as Batches, Generated as Generated, TokenStream as TokenStream, bucket_length as bucket_length, mask as mask, pad as pad
from seqjax.data.files import DataFormatError as DataFormatError, DataNotFoundError as DataNotFoundError, locate as locate
from seqjax.data.subword import SubwordVocab as SubwordVocab
from seqjax.data.tokenizer import Tokenizer as Tokenizer
from seqjax.data.vocab import (
    EOS as EOS, EOS_ID as EOS_ID, GO as GO, GO_ID as GO_ID, PAD as PAD, PAD_ID as PAD_ID, UNK as UNK, UNK_ID as UNK_ID,
    Vocab as Vocab, char_tokenize as char_tokenize, word_tokenize as word_tokenize,
)
