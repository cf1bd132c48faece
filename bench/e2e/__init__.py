"""The parts of bench/e2e_bench.py: each tool of the end-to-end benchmark in a module of its own.

simproc (the SMSC simulator in a child process), sink (the callback sink), loadgen (the HTTP
load generator), kannel and gatewayd_side (start, wait until bound, stop each gateway),
procstat (CPU and peak RSS of a process from /proc), ceilings (what the tools can do alone).
"""
