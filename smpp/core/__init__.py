"""Sans-I/O SMPP: PDUs, codec, status table, text, receipts, session.

No asyncio, no socket, no clock: time comes in as `now`.
"""
