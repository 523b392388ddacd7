-- Indexes for lookups that ran as full scans and stalled ingestion under load (issue 8's benchmark):
--   * "which channels show this subject" (edits, check-in scheduling, digests) looked up `message` by
--     subject, but its only index starts with channel_id;
--   * "was this deploy superseded" (check-in cancellation) looks for a later successful deploy of the
--     same service and environment.
create index message_subject on message (subject_kind, subject_id);
create index deploy_superseding on deploy (service, environment, status, finished_at);
