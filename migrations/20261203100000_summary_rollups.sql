-- Per-day rollups for the summaries (issue 17 item 7, docs/summaries.md "Speed"): a summary of any
-- range sums whole UTC days from these small tables and reads rows only for the partial days at its
-- edges (a period in a zone other than UTC starts and ends inside a UTC day). Medians are never
-- summed: lead time, recovery and restore times are read from their rows (store/rollups.rs).
--
-- Why UTC days: the key does not depend on LOOPBOT_TIMEZONE (changing it rebuilds nothing) and a
-- period in any zone, DST weeks included, is whole UTC days plus at most two partial days of rows.
-- `day` is the instant's Unix milliseconds divided by 86 400 000 (integer division); the readers
-- never read day 0 or earlier from here (times before 1970 truncate toward zero), only from rows.
--
-- Kept by the triggers below, in the same transaction as the rows they summarise, whoever writes
-- (the deploy writer's batch and one-by-one paths, rollbacks, feedback, check-ins, alert links,
-- incidents, retention, the benchmark's generator). Every rollup row is the sum of the
-- "contributions" of the rows in its bucket; a contribution is a function of a row AND of rows it
-- depends on (a deploy's of its alert links and their incidents; a check-in's of its feedback). So
-- each change to a row a contribution reads is bracketed: a BEFORE trigger subtracts the
-- contributions it changes, computed from the database as it is, and an AFTER trigger adds them back
-- computed from the database as it became. A deploy's BEFORE DELETE subtracts its own contribution and
-- those of its feedback and check-ins: their cascaded deletes then find no deploy and subtract nothing.
-- A bucket summed down to zero stays (a row of zeros reads as nothing). Derived data: no created_at.
--
-- A test (store/rollups_tests.rs) writes random events (inserts, status changes, votes, retractions,
-- links and verdicts, incidents, deletes) and holds every figure read through these tables to the
-- same figure computed from the rows alone.

-- Deploys by the UTC day of the instant they count at (coalesce(finished_at, started_at), as the
-- deploy_summary_at index), service and environment: how many are in each status; `lacking_commit`:
-- succeeded or rolled back without a commit time; `confirmed`: succeeded and linked to an incident a
-- responder confirmed it caused; `probable`: succeeded and linked to an incident with the link
-- confirmed or not answered yet (the change failure rate's definitions, store/dora.rs).
create table rollup_deploy (
    day            integer not null,
    service        text    not null,
    environment    text    not null,
    started        integer not null default 0,
    succeeded      integer not null default 0,
    failed         integer not null default 0,
    rolled_back    integer not null default 0,
    lacking_commit integer not null default 0,
    confirmed      integer not null default 0,
    probable       integer not null default 0,
    primary key (day, service, environment)
) without rowid;

-- Feedback that counts (not retracted, with a sentiment) by the UTC day it was given and the service
-- and environment of the deploy it is about.
create table rollup_feedback (
    day         integer not null,
    service     text    not null,
    environment text    not null,
    positive    integer not null default 0,
    neutral     integer not null default 0,
    negative    integer not null default 0,
    primary key (day, service, environment)
) without rowid;

-- Check-ins asked (open or closed, by the UTC day they were opened) and, of those, answered (at least
-- one feedback on them not retracted), by the service and environment of their deploy.
create table rollup_checkin (
    day         integer not null,
    service     text    not null,
    environment text    not null,
    asked       integer not null default 0,
    answered    integer not null default 0,
    primary key (day, service, environment)
) without rowid;

-- ---------------------------------------------------------------------------------------------
-- deploy: its own contribution (and, when it goes or changes bucket, its feedback's and check-ins').

create trigger rollup_deploy_insert after insert on deploy
begin
    insert into rollup_deploy (day, service, environment, started, succeeded, failed, rolled_back,
                               lacking_commit, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               d.status = 'started', d.status = 'succeeded', d.status = 'failed', d.status = 'rolled_back',
               d.status in ('succeeded', 'rolled_back') and d.commit_at is null,
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed'),
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null))
        from deploy d where d.id = new.id
    on conflict (day, service, environment) do update set
        started = started + excluded.started, succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed, rolled_back = rolled_back + excluded.rolled_back,
        lacking_commit = lacking_commit + excluded.lacking_commit,
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_deploy_update_before before update of status, started_at, finished_at, commit_at,
        service, environment on deploy
    when old.status is not new.status or old.started_at is not new.started_at
      or old.finished_at is not new.finished_at or old.commit_at is not new.commit_at
      or old.service is not new.service or old.environment is not new.environment
begin
    insert into rollup_deploy (day, service, environment, started, succeeded, failed, rolled_back,
                               lacking_commit, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               -(d.status = 'started'), -(d.status = 'succeeded'), -(d.status = 'failed'),
               -(d.status = 'rolled_back'),
               -(d.status in ('succeeded', 'rolled_back') and d.commit_at is null),
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d where d.id = old.id
    on conflict (day, service, environment) do update set
        started = started + excluded.started, succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed, rolled_back = rolled_back + excluded.rolled_back,
        lacking_commit = lacking_commit + excluded.lacking_commit,
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_deploy_update_after after update of status, started_at, finished_at, commit_at,
        service, environment on deploy
    when old.status is not new.status or old.started_at is not new.started_at
      or old.finished_at is not new.finished_at or old.commit_at is not new.commit_at
      or old.service is not new.service or old.environment is not new.environment
begin
    insert into rollup_deploy (day, service, environment, started, succeeded, failed, rolled_back,
                               lacking_commit, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               d.status = 'started', d.status = 'succeeded', d.status = 'failed', d.status = 'rolled_back',
               d.status in ('succeeded', 'rolled_back') and d.commit_at is null,
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed'),
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null))
        from deploy d where d.id = new.id
    on conflict (day, service, environment) do update set
        started = started + excluded.started, succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed, rolled_back = rolled_back + excluded.rolled_back,
        lacking_commit = lacking_commit + excluded.lacking_commit,
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

-- A deploy's service or environment never changes today (both writers keep them); if one did, its
-- feedback and check-ins would move with it.
create trigger rollup_deploy_rename_before before update of service, environment on deploy
    when old.service is not new.service or old.environment is not new.environment
begin
    insert into rollup_feedback (day, service, environment, positive, neutral, negative)
        select f.given_at / 86400000, old.service, old.environment,
               -sum(f.sentiment = 1), -sum(f.sentiment = 0), -sum(f.sentiment = -1)
        from feedback f
        where f.deploy_id = old.id and f.retracted_at is null and f.sentiment is not null
        group by f.given_at / 86400000
    on conflict (day, service, environment) do update set
        positive = positive + excluded.positive, neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
    insert into rollup_checkin (day, service, environment, asked, answered)
        select c.opened_at / 86400000, old.service, old.environment, -count(*),
               -sum(exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null))
        from checkin c
        where c.deploy_id = old.id and c.state in ('open', 'closed') and c.opened_at is not null
        group by c.opened_at / 86400000
    on conflict (day, service, environment) do update set
        asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

create trigger rollup_deploy_rename_after after update of service, environment on deploy
    when old.service is not new.service or old.environment is not new.environment
begin
    insert into rollup_feedback (day, service, environment, positive, neutral, negative)
        select f.given_at / 86400000, new.service, new.environment,
               sum(f.sentiment = 1), sum(f.sentiment = 0), sum(f.sentiment = -1)
        from feedback f
        where f.deploy_id = new.id and f.retracted_at is null and f.sentiment is not null
        group by f.given_at / 86400000
    on conflict (day, service, environment) do update set
        positive = positive + excluded.positive, neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
    insert into rollup_checkin (day, service, environment, asked, answered)
        select c.opened_at / 86400000, new.service, new.environment, count(*),
               sum(exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null))
        from checkin c
        where c.deploy_id = new.id and c.state in ('open', 'closed') and c.opened_at is not null
        group by c.opened_at / 86400000
    on conflict (day, service, environment) do update set
        asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

create trigger rollup_deploy_delete before delete on deploy
begin
    insert into rollup_deploy (day, service, environment, started, succeeded, failed, rolled_back,
                               lacking_commit, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               -(d.status = 'started'), -(d.status = 'succeeded'), -(d.status = 'failed'),
               -(d.status = 'rolled_back'),
               -(d.status in ('succeeded', 'rolled_back') and d.commit_at is null),
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d where d.id = old.id
    on conflict (day, service, environment) do update set
        started = started + excluded.started, succeeded = succeeded + excluded.succeeded,
        failed = failed + excluded.failed, rolled_back = rolled_back + excluded.rolled_back,
        lacking_commit = lacking_commit + excluded.lacking_commit,
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
    insert into rollup_feedback (day, service, environment, positive, neutral, negative)
        select f.given_at / 86400000, old.service, old.environment,
               -sum(f.sentiment = 1), -sum(f.sentiment = 0), -sum(f.sentiment = -1)
        from feedback f
        where f.deploy_id = old.id and f.retracted_at is null and f.sentiment is not null
        group by f.given_at / 86400000
    on conflict (day, service, environment) do update set
        positive = positive + excluded.positive, neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
    insert into rollup_checkin (day, service, environment, asked, answered)
        select c.opened_at / 86400000, old.service, old.environment, -count(*),
               -sum(exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null))
        from checkin c
        where c.deploy_id = old.id and c.state in ('open', 'closed') and c.opened_at is not null
        group by c.opened_at / 86400000
    on conflict (day, service, environment) do update set
        asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

-- ---------------------------------------------------------------------------------------------
-- alert_deploy_link and incident: a succeeded deploy's `confirmed` and `probable` read them.

create trigger rollup_link_insert_before before insert on alert_deploy_link
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d where d.id = new.deploy_id
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_link_insert_after after insert on alert_deploy_link
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed'),
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null))
        from deploy d where d.id = new.deploy_id
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_link_update_before before update of verdict, deploy_id, group_id on alert_deploy_link
    when old.verdict is not new.verdict or old.deploy_id is not new.deploy_id
      or old.group_id is not new.group_id
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d where d.id in (old.deploy_id, new.deploy_id)
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_link_update_after after update of verdict, deploy_id, group_id on alert_deploy_link
    when old.verdict is not new.verdict or old.deploy_id is not new.deploy_id
      or old.group_id is not new.group_id
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed'),
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null))
        from deploy d where d.id in (old.deploy_id, new.deploy_id)
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_link_delete_before before delete on alert_deploy_link
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               -(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d where d.id = old.deploy_id
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_link_delete_after after delete on alert_deploy_link
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed'),
               d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null))
        from deploy d where d.id = old.deploy_id
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

-- An incident makes its group's links count (or stop counting). Migrations that rebuild `incident`
-- drop these triggers with the old table and must create them again.
create trigger rollup_incident_insert_before before insert on incident
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               -sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               -sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d
        where d.id in (select k.deploy_id from alert_deploy_link k where k.group_id = new.group_id)
        group by 1, 2, 3
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_incident_insert_after after insert on incident
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d
        where d.id in (select k.deploy_id from alert_deploy_link k where k.group_id = new.group_id)
        group by 1, 2, 3
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_incident_update_before before update of group_id on incident
    when old.group_id is not new.group_id
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               -sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               -sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d
        where d.id in (select k.deploy_id from alert_deploy_link k
                       where k.group_id in (old.group_id, new.group_id))
        group by 1, 2, 3
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_incident_update_after after update of group_id on incident
    when old.group_id is not new.group_id
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d
        where d.id in (select k.deploy_id from alert_deploy_link k
                       where k.group_id in (old.group_id, new.group_id))
        group by 1, 2, 3
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_incident_delete_before before delete on incident
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               -sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               -sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d
        where d.id in (select k.deploy_id from alert_deploy_link k where k.group_id = old.group_id)
        group by 1, 2, 3
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

create trigger rollup_incident_delete_after after delete on incident
begin
    insert into rollup_deploy (day, service, environment, confirmed, probable)
        select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
               sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and l.verdict = 'confirmed')),
               sum(d.status = 'succeeded' and exists (
                   select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
                   where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
        from deploy d
        where d.id in (select k.deploy_id from alert_deploy_link k where k.group_id = old.group_id)
        group by 1, 2, 3
    on conflict (day, service, environment) do update set
        confirmed = confirmed + excluded.confirmed, probable = probable + excluded.probable;
end;

-- ---------------------------------------------------------------------------------------------
-- feedback: its own sentiment counts, and whether its check-in is answered.

create trigger rollup_feedback_insert after insert on feedback
    when new.retracted_at is null and new.sentiment is not null
begin
    insert into rollup_feedback (day, service, environment, positive, neutral, negative)
        select new.given_at / 86400000, d.service, d.environment,
               new.sentiment = 1, new.sentiment = 0, new.sentiment = -1
        from deploy d where d.id = new.deploy_id
    on conflict (day, service, environment) do update set
        positive = positive + excluded.positive, neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
end;

-- The first answer that counts makes its check-in answered (the common write: one statement, and
-- only for a check-in's first answer).
create trigger rollup_feedback_insert_answers after insert on feedback
    when new.checkin_id is not null and new.retracted_at is null
     and not exists (select 1 from feedback o
                     where o.checkin_id = new.checkin_id and o.retracted_at is null and o.id <> new.id)
begin
    insert into rollup_checkin (day, service, environment, answered)
        select c.opened_at / 86400000, d.service, d.environment, 1
        from checkin c join deploy d on d.id = c.deploy_id
        where c.id = new.checkin_id and c.state in ('open', 'closed') and c.opened_at is not null
    on conflict (day, service, environment) do update set answered = answered + excluded.answered;
end;

create trigger rollup_feedback_update_before before update of sentiment, retracted_at, given_at,
        deploy_id, checkin_id on feedback
    when old.sentiment is not new.sentiment or old.retracted_at is not new.retracted_at
      or old.given_at is not new.given_at or old.deploy_id is not new.deploy_id
      or old.checkin_id is not new.checkin_id
begin
    insert into rollup_feedback (day, service, environment, positive, neutral, negative)
        select f.given_at / 86400000, d.service, d.environment,
               -(f.sentiment = 1), -(f.sentiment = 0), -(f.sentiment = -1)
        from feedback f join deploy d on d.id = f.deploy_id
        where f.id = old.id and f.retracted_at is null and f.sentiment is not null
    on conflict (day, service, environment) do update set
        positive = positive + excluded.positive, neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
    insert into rollup_checkin (day, service, environment, answered)
        select c.opened_at / 86400000, d.service, d.environment,
               -exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null)
        from checkin c join deploy d on d.id = c.deploy_id
        where c.id in (old.checkin_id, new.checkin_id) and c.state in ('open', 'closed')
          and c.opened_at is not null
    on conflict (day, service, environment) do update set answered = answered + excluded.answered;
end;

create trigger rollup_feedback_update_after after update of sentiment, retracted_at, given_at,
        deploy_id, checkin_id on feedback
    when old.sentiment is not new.sentiment or old.retracted_at is not new.retracted_at
      or old.given_at is not new.given_at or old.deploy_id is not new.deploy_id
      or old.checkin_id is not new.checkin_id
begin
    insert into rollup_feedback (day, service, environment, positive, neutral, negative)
        select f.given_at / 86400000, d.service, d.environment,
               f.sentiment = 1, f.sentiment = 0, f.sentiment = -1
        from feedback f join deploy d on d.id = f.deploy_id
        where f.id = new.id and f.retracted_at is null and f.sentiment is not null
    on conflict (day, service, environment) do update set
        positive = positive + excluded.positive, neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
    insert into rollup_checkin (day, service, environment, answered)
        select c.opened_at / 86400000, d.service, d.environment,
               exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null)
        from checkin c join deploy d on d.id = c.deploy_id
        where c.id in (old.checkin_id, new.checkin_id) and c.state in ('open', 'closed')
          and c.opened_at is not null
    on conflict (day, service, environment) do update set answered = answered + excluded.answered;
end;

create trigger rollup_feedback_delete_before before delete on feedback
begin
    insert into rollup_feedback (day, service, environment, positive, neutral, negative)
        select f.given_at / 86400000, d.service, d.environment,
               -(f.sentiment = 1), -(f.sentiment = 0), -(f.sentiment = -1)
        from feedback f join deploy d on d.id = f.deploy_id
        where f.id = old.id and f.retracted_at is null and f.sentiment is not null
    on conflict (day, service, environment) do update set
        positive = positive + excluded.positive, neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
    insert into rollup_checkin (day, service, environment, answered)
        select c.opened_at / 86400000, d.service, d.environment,
               -exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null)
        from checkin c join deploy d on d.id = c.deploy_id
        where c.id = old.checkin_id and c.state in ('open', 'closed') and c.opened_at is not null
    on conflict (day, service, environment) do update set answered = answered + excluded.answered;
end;

create trigger rollup_feedback_delete_after after delete on feedback
    when old.checkin_id is not null
begin
    insert into rollup_checkin (day, service, environment, answered)
        select c.opened_at / 86400000, d.service, d.environment,
               exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null)
        from checkin c join deploy d on d.id = c.deploy_id
        where c.id = old.checkin_id and c.state in ('open', 'closed') and c.opened_at is not null
    on conflict (day, service, environment) do update set answered = answered + excluded.answered;
end;

-- ---------------------------------------------------------------------------------------------
-- checkin: asked, and answered as its feedback says.

create trigger rollup_checkin_insert after insert on checkin
    when new.state in ('open', 'closed') and new.opened_at is not null
begin
    insert into rollup_checkin (day, service, environment, asked, answered)
        select new.opened_at / 86400000, d.service, d.environment, 1,
               exists (select 1 from feedback f where f.checkin_id = new.id and f.retracted_at is null)
        from deploy d where d.id = new.deploy_id
    on conflict (day, service, environment) do update set
        asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

create trigger rollup_checkin_update_before before update of state, opened_at, deploy_id on checkin
    when old.state is not new.state or old.opened_at is not new.opened_at
      or old.deploy_id is not new.deploy_id
begin
    insert into rollup_checkin (day, service, environment, asked, answered)
        select c.opened_at / 86400000, d.service, d.environment, -1,
               -exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null)
        from checkin c join deploy d on d.id = c.deploy_id
        where c.id = old.id and c.state in ('open', 'closed') and c.opened_at is not null
    on conflict (day, service, environment) do update set
        asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

create trigger rollup_checkin_update_after after update of state, opened_at, deploy_id on checkin
    when old.state is not new.state or old.opened_at is not new.opened_at
      or old.deploy_id is not new.deploy_id
begin
    insert into rollup_checkin (day, service, environment, asked, answered)
        select c.opened_at / 86400000, d.service, d.environment, 1,
               exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null)
        from checkin c join deploy d on d.id = c.deploy_id
        where c.id = new.id and c.state in ('open', 'closed') and c.opened_at is not null
    on conflict (day, service, environment) do update set
        asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

create trigger rollup_checkin_delete before delete on checkin
begin
    insert into rollup_checkin (day, service, environment, asked, answered)
        select c.opened_at / 86400000, d.service, d.environment, -1,
               -exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null)
        from checkin c join deploy d on d.id = c.deploy_id
        where c.id = old.id and c.state in ('open', 'closed') and c.opened_at is not null
    on conflict (day, service, environment) do update set
        asked = asked + excluded.asked, answered = answered + excluded.answered;
end;

-- ---------------------------------------------------------------------------------------------
-- Backfill from the rows already stored (the same contributions, summed).

insert into rollup_deploy (day, service, environment, started, succeeded, failed, rolled_back,
                           lacking_commit, confirmed, probable)
    select coalesce(d.finished_at, d.started_at) / 86400000, d.service, d.environment,
           sum(d.status = 'started'), sum(d.status = 'succeeded'), sum(d.status = 'failed'),
           sum(d.status = 'rolled_back'),
           sum(d.status in ('succeeded', 'rolled_back') and d.commit_at is null),
           sum(d.status = 'succeeded' and exists (
               select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
               where l.deploy_id = d.id and l.verdict = 'confirmed')),
           sum(d.status = 'succeeded' and exists (
               select 1 from alert_deploy_link l join incident i on i.group_id = l.group_id
               where l.deploy_id = d.id and (l.verdict = 'confirmed' or l.verdict is null)))
    from deploy d
    group by 1, 2, 3;

insert into rollup_feedback (day, service, environment, positive, neutral, negative)
    select f.given_at / 86400000, d.service, d.environment,
           sum(f.sentiment = 1), sum(f.sentiment = 0), sum(f.sentiment = -1)
    from feedback f join deploy d on d.id = f.deploy_id
    where f.retracted_at is null and f.sentiment is not null
    group by 1, 2, 3;

insert into rollup_checkin (day, service, environment, asked, answered)
    select c.opened_at / 86400000, d.service, d.environment, count(*),
           sum(exists (select 1 from feedback f where f.checkin_id = c.id and f.retracted_at is null))
    from checkin c join deploy d on d.id = c.deploy_id
    where c.state in ('open', 'closed') and c.opened_at is not null
    group by 1, 2, 3;

-- The summary's comments: its five most telling (negative first, then newest) found by walking these
-- from the period's end instead of sorting every comment of the period.
create index summary_feedback_negative_comments on feedback (given_at)
    where body is not null and retracted_at is null and sentiment = -1;
