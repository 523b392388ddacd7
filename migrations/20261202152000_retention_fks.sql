-- Retention that cannot wedge (issue 15). Three references had no on-delete rule, so pruning what
-- they point at failed, and with it the whole daily pass:
--   * incident.deploy_id: a deploy blamed by an incident could never be deleted;
--   * incident.alert_id: the alert that opened an incident;
--   * alert_state_change.event_id and deploy_status_change.event_id: the raw inbound event that said
--     so could never be deleted (retention deletes raw events older than the window).
-- Each now says `on delete set null`: the row keeps its facts (times, states, the verdict) and only
-- loses the pointer. Retention itself still keeps a deploy while a kept incident names it (see
-- src/store/retention.rs); the rule here is what makes a delete never fail because of them.
--
-- SQLite cannot change a foreign key in place: each table is rebuilt (create the new shape, copy
-- every row with its id, drop the old table, rename, recreate its indexes, plus an index on each
-- child key, see below). All three are children
-- only (no table references them), so dropping the old table with foreign keys on deletes nothing
-- else, and the copy keeps every reference as it was. Column order and definitions are unchanged.

create table incident_new (
    id                 integer primary key,
    group_id           integer not null unique references alert_group (id) on delete cascade,
    alert_id           integer references alert (id) on delete set null,  -- the alert that opened it
    title              text    not null,               -- the opening alert's name
    service            text,
    environment        text,
    severity           text    not null,               -- severity of the opening alert
    opened_at          integer not null,               -- the opening alert's starts_at
    acknowledged_at    integer,                        -- first Acknowledge on the group's message
    acknowledged_by    integer,                        -- Discord user id
    resolved_at        integer,                        -- when the group resolved
    deploy_id          integer references deploy (id) on delete set null, -- the deploy correlated with it
    updated_at         integer not null,
    created_at         integer not null
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

-- Every state change of an alert or group (see the alerts migration); event_id as above.
create table alert_state_change_new (
    id         integer primary key,
    group_id   integer not null references alert_group (id) on delete cascade,
    alert_id   integer references alert (id) on delete cascade, -- null for group-wide actions (ack, silence)
    state      text    not null check (state in ('firing', 'resolved', 'acked', 'silenced',
                                                 'cause_confirmed', 'cause_rejected')),
    actor_id   integer,                       -- Discord user id for human actions, null for senders
    actor_name text,
    event_id   integer references inbound_event (id) on delete set null, -- the inbound event that said so
    at         integer not null,
    created_at integer not null
);
insert into alert_state_change_new (id, group_id, alert_id, state, actor_id, actor_name, event_id, at, created_at)
    select id, group_id, alert_id, state, actor_id, actor_name, event_id, at, created_at
    from alert_state_change;
drop table alert_state_change;
alter table alert_state_change_new rename to alert_state_change;
create index alert_state_change_group on alert_state_change (group_id, at);
create index alert_state_change_alert on alert_state_change (alert_id) where alert_id is not null;
create index alert_state_change_event on alert_state_change (event_id) where event_id is not null;

-- Each status a deploy went through (see the foundation migration); event_id as above.
create table deploy_status_change_new (
    id         integer primary key,
    deploy_id  integer not null references deploy (id) on delete cascade,
    status     text    not null,
    event_id   integer references inbound_event (id) on delete set null,
    at         integer not null,
    created_at integer not null
);
insert into deploy_status_change_new (id, deploy_id, status, event_id, at, created_at)
    select id, deploy_id, status, event_id, at, created_at
    from deploy_status_change;
drop table deploy_status_change;
alter table deploy_status_change_new rename to deploy_status_change;
create index deploy_status_change_deploy on deploy_status_change (deploy_id);
create index deploy_status_change_event on deploy_status_change (event_id) where event_id is not null;

-- The other child keys retention's deletes look up. Deleting a parent row makes SQLite find its
-- children by the child key (to cascade, set null or refuse); without an index that is a scan of the
-- whole child table per deleted row: 500 raw events deleted against 200 000 status changes took 16 s
-- with the write lock held, 5 ms with an index. The keys grow with time (ids of new rows), so each
-- index takes its writes at its tail: cheap on the ingestion path.
create index outbox_message on outbox (message_id);

-- Raw events older than the cutoff, found without reading every body (a body that overflows its page
-- is read to reach the columns after it): a scan of inbound_event read every raw body ever kept.
create index inbound_event_received on inbound_event (received_at);
create index webhook_delivery_deploy on webhook_delivery (deploy_id) where deploy_id is not null;
