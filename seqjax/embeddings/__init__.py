"""Word embeddings: vectors with a vocabulary, neighbours, analogies and their evaluation.

  read_vectors / write_vectors (in seqjax/data/vector_files.py, where the data loaders read them too):
               GloVe text, word2vec text and binary, plain or .gz
  vectors.py   Vectors: lookup, most_similar (batched top-k cosine), analogy (3CosAdd, 3CosMul),
               embedding_matrix for a task vocabulary (the count found)
  evaluate.py  evaluate_analogies, evaluate_similarity with gensim's conventions (restrict_vocab,
               case handling, out-of-vocabulary counts), Spearman and Pearson
  debias.py    Bolukbasi et al. 2016: gender_direction, direct_bias, extreme_words, hard_debias
               (neutralise and equalise)
  merge.py     merge: Numberbatch's union of several sets (unit rows concatenated, truncated SVD)
  plots.py     proximity_plot (PCA or t-SNE to 2-D), vector_heatmap (the "banded structure" figure)
  corpus.py    Corpus: vocabulary by frequency, skip-gram pairs (subsampling, reduced windows),
               co-occurrence counts, next-word examples
  word2vec.py  SkipGram: skip-gram with negative sampling, sparse SGD in chunks of minibatches
  glove.py     GloVe: weighted least squares on log co-occurrences, AdaGrad as in the C code
  next_word.py NextWord: vectors learned by predicting the next word (Bengio et al. 2003)
  training.py  train_vectors: any objective through seqjax.train.fit (progress, checkpoints, resume)
  batches.py   EpochBatches: fixed-shape, resumable batches of examples drawn anew each epoch
  sparse.py    chunked_step, adagrad_rows, noise_table: the sparse-update machinery
  retrofit.py  Faruqui et al. 2015: read_edges (lexicons, weighted pairs), conceptnet_pairs, retrofit (coordinate descent
               on Ψ, or retrofit.py's update), objective
"""

from seqjax.embeddings.evaluate import evaluate_analogies as evaluate_analogies, evaluate_similarity as evaluate_similarity
from seqjax.data.vector_files import read_vectors as read_vectors, write_vectors as write_vectors
from seqjax.embeddings.vectors import Vectors as Vectors
from seqjax.embeddings.corpus import Corpus as Corpus
from seqjax.embeddings.glove import GloVe as GloVe
from seqjax.embeddings.next_word import NextWord as NextWord
from seqjax.embeddings.training import train_vectors as train_vectors
from seqjax.embeddings.word2vec import SkipGram as SkipGram
