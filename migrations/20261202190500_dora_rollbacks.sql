-- Failed deployment recovery time starts from rolled-back deploys (docs/summaries.md). They are few, so a
-- partial index finds a period's rollbacks without scanning every deploy, and costs a write only when a
-- deploy is rolled back. The expression is the instant a deploy counts at (as deploy_summary_at).
create index deploy_rolled_back on deploy (coalesce(finished_at, started_at)) where status = 'rolled_back';
