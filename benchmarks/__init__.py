"""Performance benchmarks (run by command, never as timed tests); see benchmarks/README.md."""
