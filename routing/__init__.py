"""Pure routing: number normalisation, prefix table to operator, sender selection."""
