"""Fine-tuning pipeline: read data, prepare splits, fine-tune, evaluate, publish (python -m train.X)."""
