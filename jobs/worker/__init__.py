"""The worker side: the tracking middleware and the acks that wait for the ledger."""
