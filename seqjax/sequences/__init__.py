"""Running cells over sequences, and what is built from that.

  unroll.py        unroll (one lax.scan, lengths, reverse, ScanOptions) and loop_unroll (the plain loop)
  wrappers.py      Stack (deep, GNMT residuals), Bidirectional, VariationalDropout: cells made of cells
  pooling.py       one vector per sequence over its valid steps: last, final_output, mean, max, attention
  conv.py          conv1d, TextCNN (Kim 2014), ConvRNN (CNN+RNN), ImageCNN, max_norm
  diagnostics.py   gradient norms through time (vanishing and exploding gradients)
"""
