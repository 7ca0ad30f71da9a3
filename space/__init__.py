"""What a Hugging Face Space needs, and the command that assembles one (python -m space.build)."""
