"""Use-cases and their ports (typing.Protocol). Async, but does no I/O itself."""
