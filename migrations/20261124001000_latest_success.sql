-- "Was this deploy superseded?" (check-in scheduling and cancellation) asks for a later successful
-- deploy of the same service and environment. The index that answered it, deploy_superseding, took a
-- write at a random place of a b-tree that grows with every deploy (one leaf per service dirtied per
-- commit): about a fifth of the writer's work per deploy event in issue 8's ingestion benchmark.
-- Instead, one row per service and environment: its successful deploy that finished last. A commit
-- touches the few pages of this small table. Kept by the triggers below, so every writer of `deploy`
-- (the batch writer, the one-by-one path, integrations, the summary benchmark) keeps it true.
create table deploy_latest_success (
    service     text    not null,
    environment text    not null,
    deploy_id   integer not null references deploy (id) on delete cascade,
    finished_at integer not null,
    primary key (service, environment)
) without rowid;

-- The row always holds, of the deploys now succeeded with a finish time, the one that finished last,
-- and on a tie the one with the higher id: the same row whatever order the writes came in (the batch
-- writer updates deploys in id order, not in the order of the events). A succeeded deploy without a
-- finish time never superseded anything (`finished_at > ...` is null).
insert into deploy_latest_success (service, environment, deploy_id, finished_at)
    select service, environment, id, finished_at from (
        select service, environment, id, finished_at,
               row_number() over (partition by service, environment
                                  order by finished_at desc, id desc) as rank
        from deploy where status = 'succeeded' and finished_at is not null)
    where rank = 1;

create trigger deploy_latest_success_on_insert after insert on deploy
    when new.status = 'succeeded' and new.finished_at is not null
begin
    insert into deploy_latest_success (service, environment, deploy_id, finished_at)
        values (new.service, new.environment, new.id, new.finished_at)
        on conflict (service, environment) do update
            set deploy_id = excluded.deploy_id, finished_at = excluded.finished_at
            where (excluded.finished_at, excluded.deploy_id)
                > (deploy_latest_success.finished_at, deploy_latest_success.deploy_id);
end;

create trigger deploy_latest_success_on_success after update of status, finished_at on deploy
    when new.status = 'succeeded' and new.finished_at is not null
begin
    insert into deploy_latest_success (service, environment, deploy_id, finished_at)
        values (new.service, new.environment, new.id, new.finished_at)
        on conflict (service, environment) do update
            set deploy_id = excluded.deploy_id, finished_at = excluded.finished_at
            where (excluded.finished_at, excluded.deploy_id)
                > (deploy_latest_success.finished_at, deploy_latest_success.deploy_id);
end;

-- The latest success failed or was rolled back after all: find the one before it (rare; walks the
-- deploys back in time from the newest).
create trigger deploy_latest_success_on_undo after update of status on deploy
    when old.status = 'succeeded' and new.status <> 'succeeded'
begin
    delete from deploy_latest_success where deploy_id = old.id;
    insert into deploy_latest_success (service, environment, deploy_id, finished_at)
        select service, environment, id, finished_at from deploy
        where service = old.service and environment = old.environment
          and status = 'succeeded' and finished_at is not null
          and not exists (select 1 from deploy_latest_success l
                          where l.service = old.service and l.environment = old.environment)
        order by coalesce(finished_at, started_at) desc, id desc limit 1;
end;

drop index deploy_superseding;
