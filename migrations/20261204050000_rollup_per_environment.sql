-- The rollups by UTC day and environment only, without the service: deploys (`rollup_deploy` summed over
-- its services), feedback and check-ins likewise. For deploys: (docs/summaries.md
-- "Speed"). A summary or a trend that covers every service (the operator's reading, the weekly post of an
-- unscoped server) reads a few rows per day here instead of one per service and day: the 12 weeks of a
-- trend are about 170 rows instead of 11 000 on the benchmark's year. A scoped reading still needs the
-- services, and reads `rollup_deploy`.
--
-- Kept from `rollup_deploy` itself, by the triggers below: every change to a `rollup_deploy` row (they are
-- only ever inserted or updated by an upsert, never deleted) adds its difference here, in the same
-- transaction. Derived data: no created_at. The property test (store/rollups_tests.rs) holds both tables to
-- the rows.
create table rollup_deploy_env (
    day            integer not null,
    environment    text    not null,
    started        integer not null default 0,
    succeeded      integer not null default 0,
    failed         integer not null default 0,
    rolled_back    integer not null default 0,
    lacking_commit integer not null default 0,
    confirmed      integer not null default 0,
    probable       integer not null default 0,
    primary key (day, environment)
) without rowid;

create trigger rollup_deploy_env_insert after insert on rollup_deploy
begin
    insert into rollup_deploy_env (day, environment, started, succeeded, failed, rolled_back,
                                   lacking_commit, confirmed, probable)
        values (new.day, new.environment, new.started, new.succeeded, new.failed, new.rolled_back,
                new.lacking_commit, new.confirmed, new.probable)
    on conflict (day, environment) do update set
        started = started + excluded.started, succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed, rolled_back = rolled_back + excluded.rolled_back,
        lacking_commit = lacking_commit + excluded.lacking_commit,
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

-- An update never changes a row's key (the triggers on deploy move a contribution by subtracting it from
-- one key and adding it to another); the old values are subtracted under the new key all the same.
create trigger rollup_deploy_env_update after update on rollup_deploy
begin
    insert into rollup_deploy_env (day, environment, started, succeeded, failed, rolled_back,
                                   lacking_commit, confirmed, probable)
        values (old.day, old.environment, -old.started, -old.succeeded, -old.failed, -old.rolled_back,
                -old.lacking_commit, -old.confirmed, -old.probable)
    on conflict (day, environment) do update set
        started = started + excluded.started, succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed, rolled_back = rolled_back + excluded.rolled_back,
        lacking_commit = lacking_commit + excluded.lacking_commit,
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
    insert into rollup_deploy_env (day, environment, started, succeeded, failed, rolled_back,
                                   lacking_commit, confirmed, probable)
        values (new.day, new.environment, new.started, new.succeeded, new.failed, new.rolled_back,
                new.lacking_commit, new.confirmed, new.probable)
    on conflict (day, environment) do update set
        started = started + excluded.started, succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed, rolled_back = rolled_back + excluded.rolled_back,
        lacking_commit = lacking_commit + excluded.lacking_commit,
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_deploy_env_delete after delete on rollup_deploy
begin
    insert into rollup_deploy_env (day, environment, started, succeeded, failed, rolled_back,
                                   lacking_commit, confirmed, probable)
        values (old.day, old.environment, -old.started, -old.succeeded, -old.failed, -old.rolled_back,
                -old.lacking_commit, -old.confirmed, -old.probable)
    on conflict (day, environment) do update set
        started = started + excluded.started, succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed, rolled_back = rolled_back + excluded.rolled_back,
        lacking_commit = lacking_commit + excluded.lacking_commit,
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

insert into rollup_deploy_env (day, environment, started, succeeded, failed, rolled_back, lacking_commit,
                               confirmed, probable)
    select day, environment, sum(started), sum(succeeded), sum(failed), sum(rolled_back),
           sum(lacking_commit), sum(confirmed), sum(probable)
    from rollup_deploy group by day, environment;

-- The same for feedback and check-ins: `rollup_feedback` and `rollup_checkin` summed over their services,
-- kept from them by the same three triggers each.
create table rollup_feedback_env (
    day         integer not null,
    environment text    not null,
    positive    integer not null default 0,
    neutral     integer not null default 0,
    negative    integer not null default 0,
    primary key (day, environment)
) without rowid;

create table rollup_checkin_env (
    day         integer not null,
    environment text    not null,
    asked       integer not null default 0,
    answered    integer not null default 0,
    primary key (day, environment)
) without rowid;

create trigger rollup_feedback_env_insert after insert on rollup_feedback
begin
    insert into rollup_feedback_env (day, environment, positive, neutral, negative)
        values (new.day, new.environment, new.positive, new.neutral, new.negative)
    on conflict (day, environment) do update set positive = positive + excluded.positive, neutral = neutral + excluded.neutral, negative = negative + excluded.negative;
end;

create trigger rollup_feedback_env_update after update on rollup_feedback
begin
    insert into rollup_feedback_env (day, environment, positive, neutral, negative)
        values (old.day, old.environment, -old.positive, -old.neutral, -old.negative)
    on conflict (day, environment) do update set positive = positive + excluded.positive, neutral = neutral + excluded.neutral, negative = negative + excluded.negative;
    insert into rollup_feedback_env (day, environment, positive, neutral, negative)
        values (new.day, new.environment, new.positive, new.neutral, new.negative)
    on conflict (day, environment) do update set positive = positive + excluded.positive, neutral = neutral + excluded.neutral, negative = negative + excluded.negative;
end;

create trigger rollup_feedback_env_delete after delete on rollup_feedback
begin
    insert into rollup_feedback_env (day, environment, positive, neutral, negative)
        values (old.day, old.environment, -old.positive, -old.neutral, -old.negative)
    on conflict (day, environment) do update set positive = positive + excluded.positive, neutral = neutral + excluded.neutral, negative = negative + excluded.negative;
end;

insert into rollup_feedback_env (day, environment, positive, neutral, negative)
    select day, environment, sum(positive), sum(neutral), sum(negative)
    from rollup_feedback group by day, environment;

create trigger rollup_checkin_env_insert after insert on rollup_checkin
begin
    insert into rollup_checkin_env (day, environment, asked, answered)
        values (new.day, new.environment, new.asked, new.answered)
    on conflict (day, environment) do update set asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

create trigger rollup_checkin_env_update after update on rollup_checkin
begin
    insert into rollup_checkin_env (day, environment, asked, answered)
        values (old.day, old.environment, -old.asked, -old.answered)
    on conflict (day, environment) do update set asked = asked + excluded.asked, answered = answered + excluded.answered;
    insert into rollup_checkin_env (day, environment, asked, answered)
        values (new.day, new.environment, new.asked, new.answered)
    on conflict (day, environment) do update set asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

create trigger rollup_checkin_env_delete after delete on rollup_checkin
begin
    insert into rollup_checkin_env (day, environment, asked, answered)
        values (old.day, old.environment, -old.asked, -old.answered)
    on conflict (day, environment) do update set asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

insert into rollup_checkin_env (day, environment, asked, answered)
    select day, environment, sum(asked), sum(answered)
    from rollup_checkin group by day, environment;

-- The instant a deploy counts at (coalesce(finished_at, started_at)), now with the columns the summaries
-- read of each deploy in a range: lead time per change (store/dora.rs) reads the production deploys of the
-- 12 weeks of a trend from this index alone instead of row by row from the table. It replaces
-- deploy_summary_at (same leading expression; SQLite preferred the narrower one when both existed).
drop index deploy_summary_at;
-- started_at is there for SQLite to see the index covers the expression's own columns.
create index deploy_counts_at on deploy (coalesce(finished_at, started_at), environment, status,
                                         finished_at, commit_at, service, commit_sha, started_at);

-- The (service, environment) pairs that have ever had a deploy, and `rollup_deploy` again in pair order: a
-- summary's per-service counts are each pair's sum over the period's days, one short range of this index
-- per pair, instead of every row of the period sorted by pair (the sort cost more than the sums).
create table rollup_pair (
    service     text not null,
    environment text not null,
    primary key (service, environment)
) without rowid;

create trigger rollup_pair_insert after insert on rollup_deploy
begin
    insert or ignore into rollup_pair (service, environment) values (new.service, new.environment);
end;

insert or ignore into rollup_pair (service, environment) select service, environment from rollup_deploy;

create index rollup_deploy_by_pair on rollup_deploy (service, environment, day, started, succeeded, failed,
                                                   rolled_back, lacking_commit, confirmed, probable);
