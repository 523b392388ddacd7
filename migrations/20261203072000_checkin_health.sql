-- Release health from Prometheus (issue 16): before a check-in is asked, the check-in job reads every
-- LOOPBOT_HEALTH_QUERY_<NAME> at the deploy's start (before) and at the moment it asks (after). The
-- values are kept, so the message, its later edits, the feedback API and the dashboard all show
-- what was read then, whatever the configuration or Prometheus say later.

-- When the values below were read (even if every one was unavailable). Null: not read, either
-- because no query is configured or because the job has not got to it yet; with queries
-- configured, a check-in is asked only once this is set.
alter table checkin add column health_checked_at integer;

-- One row per query per check-in. A value is null when it could not be read; its *_error then says
-- why (unreachable, timeout, refused, query_error, no_data, several_series, bad_answer). Prometheus'
-- own words go to the log, never here: rows hold only what the bot shows.
create table checkin_health (
    id               integer primary key,
    checkin_id       integer not null references checkin (id) on delete cascade,
    name             text    not null,              -- the query's NAME, e.g. ERROR_RATE (lines sort by it)
    higher_is_better integer not null,              -- 1: named in LOOPBOT_HEALTH_HIGHER_IS_BETTER
    tolerance        real    not null,              -- LOOPBOT_HEALTH_TOLERANCE then, as a fraction (0.1 = 10%)
    before_at        integer not null,              -- the deploy's start
    before_value     real,
    before_error     text,
    after_at         integer not null,              -- when the check-in was asked
    after_value      real,
    after_error      text,
    created_at       integer not null,
    check ((before_value is null) <> (before_error is null)),
    check ((after_value is null) <> (after_error is null)),
    unique (checkin_id, name)
);
