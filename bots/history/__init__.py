"""History for the charts: candles of a bot's market (cached reads of the venue) and PnL over
time (periodic `PnlSnapshot` rows, pruned with age)."""
