"""Benchmarks (not tests). ``python -m bench.run`` (``make bench``) measures the pipeline of issue 2.

Its modules: ``mqttwire`` (MQTT 3.1.1 packet encoding), ``loadgen`` (the raw-socket load generator),
``procs`` (mosquitto, hub and edge subprocesses, metrics scraping), ``subscriber`` (the bare paho
subscriber of the raw ceiling), ``scenarios`` (a-d), ``micro`` (component costs) and ``run`` (the
command line and the table). See docs/PERFORMANCE.md.
"""
