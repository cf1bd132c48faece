"""Pure billing rules: SMS units, ledger, packages, M-Pesa (Daraja) messages."""
