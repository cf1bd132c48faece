"""Long-running loops of the daemon: dispatchers, receipt handling, the sweeper, callbacks.

Adapters over the service ports: they reach the store only through `gatewayd.service.ports`
and the binds only through `gatewayd.workers.binds.SubmitPool`; the composition root wires
the real ones in.
"""
