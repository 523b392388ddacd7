-- Lead time per change from GitLab too (issue 17 item 1). A commit_lookup row now owes its deploy the
-- list of commits it shipped: the forge's compare API between the previous successful deploy's sha in the
-- same environment and this deploy's sha (or the head commit alone for a first deploy), stored in
-- deploy_commit. Which forge answers: 'github' (repo = owner/name; GITHUB_TOKEN) or 'gitlab' (repo = the
-- project id; GITLAB_TOKEN). Rows queued before this migration were GitHub's.
alter table commit_lookup add column forge text not null default 'github';
