-- Foundation schema: deploys, the raw events they came from, channel subscriptions,
-- the messages the bot posted, and the outbox that posts them.
--
-- Conventions (pinned by tests in src/store):
--   * timestamps are INTEGER milliseconds since the Unix epoch, UTC;
--   * Discord snowflakes (u64) are stored as INTEGER (i64, same bits) and converted in src/store/ids.rs only;
--   * every table has created_at.

-- Every accepted inbound request body, kept verbatim for audit and replay.
-- (source, idempotency_key) is unique so a sender's retry is recognised.
create table inbound_event (
    id              integer primary key,
    source          text    not null,              -- 'api', later 'alertmanager', 'github', ...
    idempotency_key text,                          -- sender's own id for the event, when it has one
    body            text    not null,
    received_at     integer not null,
    created_at      integer not null
);
create index inbound_event_key on inbound_event (source, idempotency_key);

-- One row per deploy (a service version rolled out to an environment), updated as its status changes.
-- external_id is the sender's key for the deploy; without one the API derives service/environment/version.
create table deploy (
    id          integer primary key,
    source      text    not null,
    external_id text    not null,
    service     text    not null,
    version     text    not null,
    environment text    not null,
    status      text    not null check (status in ('started', 'succeeded', 'failed', 'rolled_back')),
    deployer    text,
    commit_sha  text,
    commit_at   integer,
    url         text,
    changelog   text,
    started_at  integer not null,
    finished_at integer,                           -- set when the status becomes terminal
    updated_at  integer not null,
    created_at  integer not null,
    unique (source, external_id)
);
create index deploy_service_env on deploy (service, environment, created_at);

-- Each status a deploy went through, with the inbound event that said so.
create table deploy_status_change (
    id         integer primary key,
    deploy_id  integer not null references deploy (id) on delete cascade,
    status     text    not null,
    event_id   integer references inbound_event (id),
    at         integer not null,
    created_at integer not null
);

-- What a channel wants to hear about. kind is one of deploys|alerts|checkins|summaries;
-- "all" in the command becomes one row per kind. Patterns are globs (`*` and `?`), '*' matches all.
create table subscription (
    id                  integer primary key,
    guild_id            integer,
    channel_id          integer not null,
    kind                text    not null check (kind in ('deploys', 'alerts', 'checkins', 'summaries')),
    service_pattern     text    not null default '*',
    environment_pattern text    not null default '*',
    created_by          integer,
    created_at          integer not null,
    unique (channel_id, kind, service_pattern, environment_pattern)
);

-- The bot's message about a subject in a channel. The row exists before the message does: its id is the
-- nonce sent with the post, so a post retried after a crash returns the same Discord message.
create table message (
    id                 integer primary key,
    channel_id         integer not null,
    subject_kind       text    not null,           -- 'deploy', later 'alert_group', 'checkin', ...
    subject_id         integer not null,
    discord_message_id integer,                    -- null until Discord confirmed the post
    posted_at          integer,
    updated_at         integer not null,
    created_at         integer not null,
    unique (channel_id, subject_kind, subject_id)
);
create index message_discord_id on message (discord_message_id);

-- Work for the delivery worker: "make the message for this subject in this channel show its current state".
-- Rendering happens at delivery, so a burst of status changes costs one post or edit per row still pending.
-- Rows for one channel are delivered in id order; a row is 'pending' until Discord confirmed it ('sent')
-- or refused it for good ('failed', with last_error).
create table outbox (
    id         integer primary key,
    message_id integer not null references message (id) on delete cascade,
    channel_id integer not null,
    state      text    not null default 'pending' check (state in ('pending', 'sent', 'failed')),
    due_at     integer not null,
    attempts   integer not null default 0,
    last_error text,
    sent_at    integer,
    created_at integer not null
);
create index outbox_pending on outbox (state, channel_id, id);
