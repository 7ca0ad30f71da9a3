"""Side-by-side measurements (not tests): python -m benchmarks.run"""
