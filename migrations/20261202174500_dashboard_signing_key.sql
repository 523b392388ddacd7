-- The key that signs dashboard links (issue 18): `/dashboard` in Discord answers with a link signed
-- (HMAC-SHA256) for one server and one person, and the web dashboard checks that signature. The bot
-- generates the key once, on first use, and keeps it here so links survive a restart; one row only.
-- Deleting the row invalidates every link handed out (a new key is made on the next `/dashboard`).
create table dashboard_key (
    id         integer primary key check (id = 1),
    key        blob    not null check (length(key) = 32), -- 32 random bytes
    created_at integer not null
);
