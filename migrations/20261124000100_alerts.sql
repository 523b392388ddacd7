-- Alerts (issue 3): notices from Prometheus Alertmanager, Grafana and the generic alert API, the
-- messages that show them, who acknowledged/silenced what, incidents, and the deploy ↔ alert link.
--
-- Conventions as in the foundation: timestamps are INTEGER Unix milliseconds (UTC); Discord snowflakes
-- are INTEGER (i64 bits of the u64, converted in src/store/ids.rs); every table has created_at.
-- Severities are normalised to lowercase 'critical' | 'error' | 'warning' | 'info' | 'none'
-- (anything else a sender says is kept as given, lowercased).
--
-- The message about a group is a `message` row with subject_kind = 'alert_group', subject_id =
-- alert_group.id (one per channel), delivered through the outbox like every other message.

-- One notification group, as the sender groups it (Alertmanager's groupKey; Grafana's groupKey;
-- the generic API uses its fingerprint). One row per *episode*: when a group has fully resolved and
-- fires again, a new row (and so a new message) is made; while it fires, the same row is updated and
-- its message edited.
create table alert_group (
    id                 integer primary key,
    source             text    not null check (source in ('alertmanager', 'grafana', 'api')),
    group_key          text    not null,           -- the sender's group key
    receiver           text,                       -- Alertmanager/Grafana receiver name
    status             text    not null check (status in ('firing', 'resolved')), -- firing while any member fires
    title              text,                       -- Grafana's title, else null (rendered from labels)
    message            text,                       -- Grafana's message, else null
    group_labels       text    not null default '{}', -- JSON object, as sent
    common_labels      text    not null default '{}', -- JSON object, as sent
    common_annotations text    not null default '{}', -- JSON object, as sent
    external_url       text,                       -- the sender's externalURL
    truncated_alerts   integer not null default 0, -- alerts the sender left out (max_alerts)
    service            text,                       -- from the service label (LOOPBOT_ALERT_SERVICE_LABELS)
    environment        text,                       -- from the environment/env label
    severity           text    not null,           -- highest severity among its alerts
    first_fired_at     integer not null,           -- earliest startsAt among its alerts
    resolved_at        integer,                    -- when the last member resolved (null while firing)
    acked_by           integer,                    -- Discord user who pressed Acknowledge (first press wins)
    acked_by_name      text,
    acked_at           integer,
    silence_id         text,                       -- Alertmanager's silenceID from Silence 1h
    silenced_by        integer,                    -- Discord user who pressed Silence 1h
    silenced_by_name   text,
    silenced_at        integer,
    silenced_until     integer,
    mention_kind       text check (mention_kind in ('role', 'user')), -- LOOPBOT_ALERT_MENTION as decided when
    mention_id         integer,                    -- the group last changed (null: ping nobody)
    silence_available  integer not null default 0, -- 1: Silence 1h is offered (ALERTMANAGER_URL set, source alertmanager)
    updated_at         integer not null,
    created_at         integer not null
);
create index alert_group_key on alert_group (source, group_key, id);
create index alert_group_status on alert_group (status, first_fired_at);

-- One alert (by fingerprint) within a group episode, with its own state: a group stays 'firing'
-- while any member fires, so each alert's status is kept here. An alert that re-fires in the same
-- episode reuses its row (status back to 'firing', starts_at updated, resolved_at cleared).
create table alert (
    id             integer primary key,
    group_id       integer not null references alert_group (id) on delete cascade,
    source         text    not null,           -- same as the group's
    fingerprint    text    not null,           -- the sender's fingerprint (generic API: fingerprint or id)
    name           text    not null,           -- alertname label (generic API: name)
    service        text,                       -- from the service label (service, app or job by default)
    environment    text,                       -- environment/env label
    severity       text    not null,           -- severity label, lowercased ('none' when absent)
    instance       text,                       -- instance label
    status         text    not null check (status in ('firing', 'resolved')),
    summary        text,                       -- annotation summary (or Grafana valueString)
    description    text,                       -- annotation description
    labels         text    not null default '{}', -- JSON object, every label as sent
    annotations    text    not null default '{}', -- JSON object, every annotation as sent
    generator_url  text,                       -- source link (generatorURL / url)
    runbook_url    text,                       -- annotation runbook_url
    dashboard_url  text,                       -- Grafana dashboardURL (or annotation dashboard_url)
    panel_url      text,                       -- Grafana panelURL
    silence_url    text,                       -- Grafana silenceURL
    value_string   text,                       -- Grafana valueString
    starts_at      integer not null,           -- startsAt
    ends_at        integer,                    -- endsAt as sent (null for 0001-01-01T00:00:00Z or absent)
    resolved_at    integer,                    -- when loopbot learnt it resolved (endsAt when given)
    acked_by       integer,                    -- Discord user who acknowledged (the group's Acknowledge)
    acked_by_name  text,
    acked_at       integer,
    updated_at     integer not null,
    created_at     integer not null,
    unique (group_id, fingerprint)
);
create index alert_fingerprint on alert (source, fingerprint);
create index alert_service_started on alert (service, starts_at);
create index alert_status on alert (status);

-- Every state change of an alert or group, with who and when: 'firing', 'resolved' (from the sender;
-- actor null), 'acked', 'silenced' (actor = the Discord user), 'cause_confirmed', 'cause_rejected'.
create table alert_state_change (
    id         integer primary key,
    group_id   integer not null references alert_group (id) on delete cascade,
    alert_id   integer references alert (id) on delete cascade, -- null for group-wide actions (ack, silence)
    state      text    not null check (state in ('firing', 'resolved', 'acked', 'silenced',
                                                 'cause_confirmed', 'cause_rejected')),
    actor_id   integer,                       -- Discord user id for human actions, null for senders
    actor_name text,
    event_id   integer references inbound_event (id), -- the inbound event that said so, if any
    at         integer not null,
    created_at integer not null
);
create index alert_state_change_group on alert_state_change (group_id, at);

-- An incident: opened when an alert at or above LOOPBOT_INCIDENT_SEVERITY (default critical) fires in a
-- group that has no open incident; closed when the group resolves. One per group episode at most.
--   time to acknowledge = acknowledged_at - opened_at   (acknowledged_at null: never acknowledged)
--   time to restore     = resolved_at - opened_at        (resolved_at null: still open)
create table incident (
    id                 integer primary key,
    group_id           integer not null unique references alert_group (id) on delete cascade,
    alert_id           integer references alert (id),  -- the alert that opened it
    title              text    not null,               -- the opening alert's name
    service            text,
    environment        text,
    severity           text    not null,               -- severity of the opening alert
    opened_at          integer not null,               -- the opening alert's starts_at
    acknowledged_at    integer,                        -- first Acknowledge on the group's message
    acknowledged_by    integer,                        -- Discord user id
    resolved_at        integer,                        -- when the group resolved
    deploy_id          integer references deploy (id), -- the deploy correlated with it (see alert_deploy_link)
    updated_at         integer not null,
    created_at         integer not null
);
create index incident_opened on incident (opened_at);

-- The correlation "this alert started within LOOPBOT_CORRELATION_WINDOW after this deploy of the same
-- service finished", and a human's answer to "Caused by this deploy?" on the alert message.
-- Change failure rate counts a deploy as failed when it is linked to an incident
-- (incident.deploy_id, or a link whose group has an incident) and no human rejected the link
-- (verdict is null = not answered, or 'confirmed').
create table alert_deploy_link (
    id              integer primary key,
    alert_id        integer not null references alert (id) on delete cascade,
    group_id        integer not null references alert_group (id) on delete cascade,
    deploy_id       integer not null references deploy (id) on delete cascade,
    delay_ms        integer not null,           -- alert.starts_at - deploy.finished_at
    verdict         text check (verdict in ('confirmed', 'rejected')), -- null until a human answers
    verdict_by      integer,                    -- Discord user id
    verdict_by_name text,
    verdict_at      integer,
    created_at      integer not null,
    unique (alert_id, deploy_id)
);
create index alert_deploy_link_deploy on alert_deploy_link (deploy_id);
create index alert_deploy_link_group on alert_deploy_link (group_id);
