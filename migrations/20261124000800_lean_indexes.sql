-- Leaner indexes for the write path (issue 8's ingestion benchmark). Every deploy event writes a
-- deploy, a message, an outbox row and two check-ins; each index on those tables is one more b-tree
-- to update per row. Most rows carry NULL (or a finished state) in the columns below for their whole
-- life, so these indexes become partial: they hold only the rows their lookups can find. SQLite uses
-- a partial index for `x = ?` or a range on x when the index says `x is not null`, and for
-- `state = 'scheduled'` when it says exactly that.

drop index checkin_due;
create index checkin_due on checkin (due_at) where state = 'scheduled';
drop index checkin_close;
create index checkin_close on checkin (close_at) where state = 'open';
drop index checkin_message;
create index checkin_message on checkin (message_id) where message_id is not null;
drop index checkin_thread;
create index checkin_thread on checkin (thread_id) where thread_id is not null;
drop index summary_checkin_opened;
create index summary_checkin_opened on checkin (opened_at) where opened_at is not null;

drop index message_discord_id;
create index message_discord_id on message (discord_message_id) where discord_message_id is not null;
drop index message_digest;
create index message_digest on message (digest_id) where digest_id is not null;

-- Check-in scheduling now starts from deploy_status_change; deploy_superseding (service,
-- environment, status, finished_at) serves every lookup by service that these two served.
drop index deploy_finished;
drop index deploy_service_env;
