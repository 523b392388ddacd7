-- inbound_event_key (source, idempotency_key) was never read: a sender's retry is recognised by the
-- deploy's (source, external_id) and by the alert's own keys, and retention scans by time. Its keys
-- arrive in no order, so every accepted event dirtied a page at a random place of that b-tree: about
-- a tenth of the writer's work per deploy event in issue 8's ingestion benchmark.
drop index inbound_event_key;
