"""`mpo bench`: the population engine measured side by side with a Python loop; the sharded worker; the report."""
