"""Fast paths with the same parameters and the same numbers as the readable cells.

  fused.py          LSTM and GRU scans with hand-written backward passes (weight gradients after the loop)
  fused_linear.py   MinGRU/MinLSTM in cache-sized time chunks with a hand-written backward pass
  cudnn.py          seqjax.LSTM layers on cuDNN's kernel (``unroll(..., cudnn=True)``, CUDA GPUs)

Each is chosen by ``seqjax.ScanOptions`` inside a cell's ``scan``; tests compare each with
autodiff of the readable step.
"""
