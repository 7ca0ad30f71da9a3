"""What the benchmark measures, one idea a module; benchmarks.run runs them in order.

- side_by_side: each engine's decode rate and keystroke latency, interleaved.
- batching: compare columns decoded together, and eight people sharing decode steps.
- report_card: a report's samples in shared batches against one at a time, typing meanwhile.
- inspector: generation with the token inspector's steps kept and without.
- guided: rating guidance's cost, in process and through the app's HTTP API.
- processes: a fresh app's cold start, REST latency and memory; each engine's peak memory.
"""
