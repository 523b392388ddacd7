-- Which Discord server each channel belongs to (issue 14, scoped reads): a server reads only what
-- its own channels were sent or subscribe to (see src/domain/visibility.rs), so the store must know
-- the server of every channel a message went to. Learned from GUILD_CREATE's channel list at each
-- gateway connect and from every command; filled here from what the tables already say.
create table discord_channel (
    channel_id integer primary key,        -- Discord channel (or thread) id
    guild_id   integer not null,           -- the server it belongs to
    updated_at integer not null,
    created_at integer not null
);
create index discord_channel_guild on discord_channel (guild_id);

insert or ignore into discord_channel (channel_id, guild_id, updated_at, created_at)
    select channel_id, max(guild_id), max(created_at), min(created_at) from subscription
    where guild_id is not null group by channel_id;
insert or ignore into discord_channel (channel_id, guild_id, updated_at, created_at)
    select channel_id, max(guild_id), max(created_at), min(created_at) from checkin
    where guild_id is not null group by channel_id;
insert or ignore into discord_channel (channel_id, guild_id, updated_at, created_at)
    select channel_id, max(guild_id), max(created_at), min(created_at) from feedback
    where guild_id is not null and channel_id is not null group by channel_id;
