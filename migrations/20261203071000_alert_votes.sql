-- Alert noise votes (issue 16 item 3): people press **Useful** or **Noise** on an alert message (or on
-- a digest line's group). One vote per person per alert group episode (an `alert_group` row): a
-- second press replaces the first, so the latest counts. The summary's `alerts.noisiest` counts
-- the votes given in its period by alert name (each distinct alert name of the voted group).
-- Per-event data: retention removes a vote with its group, and keeps a group while a vote given
-- inside the window names it (src/store/retention.rs).
create table alert_vote (
    group_id   integer not null references alert_group (id) on delete cascade,
    user_id    integer not null,           -- Discord user id (snowflake)
    user_name  text    not null,           -- their name when they last voted
    vote       text    not null check (vote in ('useful', 'noise')),
    voted_at   integer not null,           -- the latest press (the summary's period reads this)
    updated_at integer not null,
    created_at integer not null,           -- the first press
    primary key (group_id, user_id)
);
create index alert_vote_voted_at on alert_vote (voted_at);
