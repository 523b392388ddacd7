-- Digests: when a burst would flood a channel past Discord's per-channel rate (about 5 messages
-- per 5 s), the delivery worker posts ONE message standing for many subjects instead of one each.
-- Members are `message` rows with digest_id set; they share the digest's Discord message id, so a
-- later change to any member (an alert resolving) edits the digest, which re-renders every member.
create table digest (
    id                 integer primary key,
    channel_id         integer not null,
    discord_message_id integer,                    -- null until Discord confirmed the post
    posted_at          integer,
    created_at         integer not null
);

alter table message add column digest_id integer references digest (id);
create index message_digest on message (digest_id);
