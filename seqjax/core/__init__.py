"""What everything else stands on; nothing here knows about models.

  types.py         the type aliases (Array, Params, State, PRNGKey, DType) and path_string
  checks.py        argument checks that name the argument and what was expected
  masking.py       sequence masks, the masked scan (the one lax.scan of every loop over time), Constant
  scan.py          linear_scan: h_t = a_t h_{t-1} + b_t, sequential or associative (parallel)
  host_memory.py   keep freed host memory for the next step (no page faults per step on the CPU)
  plots.py         the matplotlib preamble and the library's plots (curves, attention heat maps)
  moved.py         the module paths of earlier releases, kept working for one release
"""
