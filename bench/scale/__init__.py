"""The Verda-scale simulation of ``bench/bench_scale.py``: layout, generator, measurements."""
