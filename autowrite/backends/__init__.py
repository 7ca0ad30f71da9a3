"""The backends, side by side: transformers (reference), llama.cpp (fast, CPU) and a remote server."""
