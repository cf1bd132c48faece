"""asyncio side of SMPP: one TCP connection per session, and bind pools."""
