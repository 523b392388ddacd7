-- Integrations (issue 6): webhook deliveries already handled, and commit-time lookups still owed.

-- Each webhook delivery loopbot has acted on, by the sender's own delivery id
-- (GitHub's X-GitHub-Delivery, GitLab's Idempotency-Key / X-Gitlab-Webhook-UUID): a redelivery is answered
-- without doing anything twice. deploy_id is null for deliveries that mapped to no deploy.
create table webhook_delivery (
    id          integer primary key,
    source      text    not null,                  -- 'github', 'gitlab'
    delivery_id text    not null,
    deploy_id   integer references deploy (id) on delete set null,
    received_at integer not null,
    created_at  integer not null,
    unique (source, delivery_id)
);

-- A deploy whose commit time is not yet known, with where to ask for it (GitHub's commits API).
-- A row stays until the lookup succeeds or gives up; the deploy is stored and announced either way.
create table commit_lookup (
    deploy_id       integer primary key references deploy (id) on delete cascade,
    repo            text    not null,              -- owner/name
    sha             text    not null,
    attempts        integer not null default 0,
    next_attempt_at integer not null,
    last_error      text,
    created_at      integer not null
);
create index commit_lookup_due on commit_lookup (next_attempt_at);
