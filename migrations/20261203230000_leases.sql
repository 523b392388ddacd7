-- Several replicas on one database (issue 19 item 2). Work that must happen once (a job, the outbox's
-- delivery, a gateway shard) is done by the replica holding its lease. A lease is taken when it is free or
-- expired and renewed by its holder well before it expires; a replica that dies stops renewing, and another
-- takes the lease over once expires_at has passed. holder is the replica's id (LOOPBOT_REPLICA_ID);
-- acquired_at is when this holder took it (kept across renewals), expires_at the end of the current term.
-- Times are INTEGER milliseconds since the Unix epoch, UTC, like every time in this schema.
create table lease (
    name text primary key,
    holder text not null,
    acquired_at integer not null,
    expires_at integer not null
);
