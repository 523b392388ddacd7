-- With the sender's clock (issue 17 item 2) a succeeded deploy's finish time can move back: a late
-- event carries an earlier `at` than the one recorded. The triggers of 20261124001000 only ever
-- raise deploy_latest_success.finished_at, so the row kept the later time (or a deploy that no
-- longer finished last), and the batch writer (one update per deploy) and the one-by-one path (one
-- per event) could leave different rows (found by store::deploy_writer's property test).
-- When the deploy that holds the row finishes earlier than the row says, pick the latest again.
create trigger deploy_latest_success_on_earlier_finish after update of finished_at on deploy
    when old.status = 'succeeded' and new.status = 'succeeded'
         and (new.finished_at is null or new.finished_at < old.finished_at)
begin
    delete from deploy_latest_success where deploy_id = old.id;
    insert into deploy_latest_success (service, environment, deploy_id, finished_at)
        select service, environment, id, finished_at from deploy
        where service = old.service and environment = old.environment
          and status = 'succeeded' and finished_at is not null
          and not exists (select 1 from deploy_latest_success l
                          where l.service = old.service and l.environment = old.environment)
        order by finished_at desc, id desc limit 1;
end;
