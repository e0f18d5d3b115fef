"""Weight import from other frameworks."""

from seqjax.interop.torch import from_torch as from_torch, torch_final_state as torch_final_state
