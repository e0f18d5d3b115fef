"""Fast paths with the same parameters and the same numbers as the readable cells.

  fused.py          LSTM and GRU scans with hand-written backward passes (weight gradients after the loop)
  fused_linear.py   MinGRU/MinLSTM in cache-sized time chunks with a hand-written backward pass
  cudnn.py          seqjax.LSTM layers on cuDNN's kernel (``ScanOptions(cudnn=True)``, CUDA GPUs)
  options.py        ScanOptions, the one speed-option type, and ``path``, the one place that picks a kernel

A cell's ``scan`` asks ``options.path`` which of them to run; tests compare each with autodiff of
the readable step.
"""
