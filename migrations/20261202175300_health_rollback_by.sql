-- A responder marks a deploy rolled back from its check-in (issue 16): the status change records who
-- did it. Null for changes reported by a sender (CI, webhooks), which carry their raw event instead.
alter table deploy_status_change add column by_user_id integer;   -- Discord user id (snowflake)
alter table deploy_status_change add column by_name    text;      -- their name when they did it
