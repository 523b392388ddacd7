-- Incidents with an end (issue 16 item 2): an incident gets a thread holding its timeline, a retro
-- prompt when it resolves, a retro (answers per author) and follow-ups with an owner and a state.
-- See docs/incidents.md.
--
-- 1. `incident` is rebuilt (SQLite cannot drop a NOT NULL in place) so an incident can exist with no
--    alert group: one a responder declared with `/incident declare` because no alert saw it. Every
--    column, index and foreign key of 20261202152000_retention_fks.sql is kept as it was; group_id is
--    now nullable (still unique: SQLite lets any number of NULLs through a unique constraint) and four
--    columns are added. No table referenced `incident` before this migration, so dropping the old
--    table with foreign keys on deletes nothing else; every row keeps its id.

create table incident_new (
    id                 integer primary key,
    group_id           integer unique references alert_group (id) on delete cascade, -- null: declared
    alert_id           integer references alert (id) on delete set null,  -- the alert that opened it
    title              text    not null,               -- the opening alert's name, or the declared title
    service            text,
    environment        text,
    severity           text    not null,               -- severity of the opening alert, or as declared
    opened_at          integer not null,               -- the opening alert's starts_at, or when declared
    acknowledged_at    integer,                        -- first Acknowledge on the group's message
    acknowledged_by    integer,                        -- Discord user id
    resolved_at        integer,                        -- when the group resolved, or `/incident resolve`
    deploy_id          integer references deploy (id) on delete set null, -- the deploy correlated with it
    updated_at         integer not null,
    created_at         integer not null,
    declared_by        integer,                        -- Discord user who declared it (null: an alert opened it)
    declared_by_name   text,
    declared_channel   integer,                        -- the channel `/incident declare` was used in
    thread_id          integer,                        -- the Discord thread on its message, once started
    check (group_id is not null or declared_channel is not null)
);
insert into incident_new (id, group_id, alert_id, title, service, environment, severity, opened_at,
                          acknowledged_at, acknowledged_by, resolved_at, deploy_id, updated_at, created_at)
    select id, group_id, alert_id, title, service, environment, severity, opened_at,
           acknowledged_at, acknowledged_by, resolved_at, deploy_id, updated_at, created_at
    from incident;
drop table incident;
alter table incident_new rename to incident;
create index incident_opened on incident (opened_at);
create index summary_incident_resolved on incident (resolved_at);
create index summary_incident_deploy on incident (deploy_id);
create index incident_alert on incident (alert_id) where alert_id is not null;
-- `/incident resolve` in a thread, and thread messages, find their incident by thread.
create index incident_thread on incident (thread_id) where thread_id is not null;

-- 2. The timeline: what happened to an incident, with who and when, in the order it was recorded.
--    Each entry is also posted in the incident's thread through the outbox (message subject
--    'incident_event', subject_id = this id); entries recorded before the thread exists are queued
--    when it is started. Kinds: 'declared' / 'fired' (it opened), 'acknowledged', 'deploy_linked'
--    (a deploy correlated with it, or a responder confirmed one), 'deploy_unlinked' (a responder
--    said "not this deploy"), 'silenced', 'resolved', 'retro' (someone wrote the retro),
--    'followup' (added), 'followup_done' (closed).
create table incident_event (
    id          integer primary key,
    incident_id integer not null references incident (id) on delete cascade,
    kind        text    not null check (kind in ('declared', 'fired', 'acknowledged', 'deploy_linked',
                                                 'deploy_unlinked', 'silenced', 'resolved', 'retro',
                                                 'followup', 'followup_done')),
    actor_id    integer,                    -- Discord user id for a person's action, null for senders
    actor_name  text,
    detail      text,                       -- what the entry names (the alert, the deploy, the follow-up)
    at          integer not null,           -- when it happened (the sender's time for fired/resolved)
    created_at  integer not null
);
create index incident_event_incident on incident_event (incident_id, id);

-- 3. The retro: the three answers of "Write the retro", one row per incident and author (the
--    latest form a person submits replaces their earlier one; several people may each write theirs).
create table incident_retro (
    id            integer primary key,
    incident_id   integer not null references incident (id) on delete cascade,
    author_id     integer not null,         -- Discord user id
    author_name   text    not null,
    what_happened text    not null,
    what_helped   text    not null,
    sooner        text    not null,         -- what would have caught it sooner
    at            integer not null,         -- when last submitted
    created_at    integer not null,
    unique (incident_id, author_id)
);

-- 4. Follow-ups: something to fix after an incident, owned by someone, open until closed with
--    `/followup-done` (by a responder or its owner). The owner is a Discord user when the form named
--    one (a mention or a user id: owner_id), else free text (owner_text: a team, a name).
--    Retention keeps an incident while any of its follow-ups is open.
create table followup (
    id             integer primary key,
    incident_id    integer not null references incident (id) on delete cascade,
    what           text    not null,
    owner_id       integer,                 -- Discord user id, when the owner is a person on Discord
    owner_text     text,                    -- free text otherwise (null when owner_id says it all)
    due_date       text,                    -- YYYY-MM-DD, optional
    state          text    not null check (state in ('open', 'done')),
    opened_by      integer not null,        -- Discord user id
    opened_by_name text    not null,
    opened_at      integer not null,
    closed_by      integer,
    closed_by_name text,
    closed_at      integer,
    updated_at     integer not null,
    created_at     integer not null
);
create index followup_incident on followup (incident_id);
create index followup_open on followup (state, opened_at);
create index followup_closed on followup (closed_at) where closed_at is not null;
