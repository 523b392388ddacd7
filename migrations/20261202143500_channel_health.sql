-- When Discord says no (issue 15). Written by the delivery worker only.
--
-- A channel the bot cannot post in (403 Missing Access / Missing Permissions, 404 Unknown Channel):
-- one row while it is held. Its outbox rows stay pending, costing no attempts; the head of its queue is
-- retried every `retry_ms` (1 s doubling to 10 min). The row goes when a post or edit there works again;
-- `/subscriptions` and `/metrics` read it. After LOOPBOT_UNREACHABLE_GIVE_UP the queue is dead-lettered
-- and the row stays, so the warning stays until access returns.
create table channel_health (
    channel_id integer primary key,
    since      integer not null,        -- first refusal of this spell
    missing    text,                    -- the permission missing, when known ('Send Messages')
    reason     text    not null,        -- what the warning says after "since …:"
    retry_ms   integer not null,        -- current back-off
    last_error text    not null,        -- Discord's answer: status, code, message
    updated_at integer not null
);

-- Someone deleted the bot's message: the subject's current state is posted again as a new message. A
-- post's nonce names its row and how many times it was re-posted, so the new post is not mistaken by
-- Discord for the deleted one, and a retry of the new post cannot post twice.
alter table message add column reposts integer not null default 0;
alter table digest add column reposts integer not null default 0;
