-- Lead time per change (issue 17 item 1): the commits a deploy shipped, each with its committer date.
-- DORA's lead time for changes is "commit to running in production"; a deploy that ships ten commits
-- written over two weeks has ten lead times, not one. Rows come from the generic API's `commits` list
-- (and `loopbot notify deploy`, which fills it from `git log`), or from GitHub's and GitLab's compare
-- APIs through the commit_lookup queue. A deploy without rows here falls back to its own commit_sha /
-- commit_at (one commit), and without those it counts as lacking a commit time.
--
-- A sha shipped by several production deploys of one service counts once, at the first that shipped
-- it (store/dora.rs, `lead_time`): a redeploy or a second production region adds no lead time.
create table deploy_commit (
    deploy_id    integer not null references deploy (id) on delete cascade,
    sha          text    not null,              -- lowercase hex, as domain::deploy::CommitSha stores it
    committed_at integer not null,              -- the commit's committer date (Unix ms)
    created_at   integer not null,
    primary key (deploy_id, sha)
);

-- "Did an earlier production deploy ship this sha?" is asked per commit of the period.
create index deploy_commit_sha on deploy_commit (sha);
-- The same question for deploys known only by their head commit (no deploy_commit rows).
create index deploy_commit_head on deploy (commit_sha) where commit_sha is not null;
