"""Fine-tuning pipeline: read data, prepare splits, fine-tune, evaluate, publish (python -m train.X)."""

import os

# Set before torch starts its OpenMP threads. On a small shared machine another busy process
# deschedules one of our threads; spinning waiters then burn the remaining core and a 1.5 s
# forward pass takes 15 s (measured on 2 cores). Sleeping waiters lose nothing measurable.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
