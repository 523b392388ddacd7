-- Weekly summaries: one row per (channel, period), written in the same transaction as its outbox
-- row and before anything is posted, so a summary goes out exactly once even across restarts.
-- body is the computed summary (JSON), frozen when the schedule fired: a retry posts the same figures.
create table summary (
    id            integer primary key,
    channel_id    integer not null,
    period_start  integer not null,           -- UTC ms of local midnight starting the period
    period_end    integer not null,           -- exclusive
    scheduled_for integer not null,           -- the schedule instant that produced it
    body          text    not null,
    created_at    integer not null,
    unique (channel_id, period_start, period_end)
);

-- A deploy counts in the period of its outcome (or of its start while it has none). The summary
-- queries filter on exactly this expression, so SQLite uses the index for the range scan.
create index deploy_summary_at on deploy (coalesce(finished_at, started_at));

-- Range scans for the alert and check-in figures (their tables come from the alerts and check-ins
-- migrations, which run before this one).
create index summary_alert_started on alert (starts_at);
create index summary_alert_group_fired on alert_group (first_fired_at);
create index summary_incident_resolved on incident (resolved_at);
create index summary_incident_deploy on incident (deploy_id);
create index summary_checkin_opened on checkin (opened_at);
-- Covering index: the week's sentiment counts read the index only, not 20 000 table rows.
create index summary_feedback_given on feedback (given_at, retracted_at, sentiment, deploy_id);
-- The comments of a period: only rows with text that still count.
create index summary_feedback_comments on feedback (given_at) where body is not null and retracted_at is null;
