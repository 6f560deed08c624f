"""What every task's ingestion shares: walk, records, hashing, splits, duplicates, the report."""
