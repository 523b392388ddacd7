-- Post-release check-ins (issue 4): who deployed (CI name -> Discord user), the check-ins the bot asks
-- after a production deploy, and every piece of feedback people give about a release.
--
-- Conventions as in the foundation: timestamps INTEGER Unix milliseconds UTC; snowflakes INTEGER (i64 bits).
--
-- For reports (e.g. weekly summaries):
--   * asked    = checkin rows with state in ('open', 'closed');
--   * answered = those with at least one feedback row (retracted_at is null) whose checkin_id points at them;
--   * sentiment = feedback.sentiment (+1/0/-1) of rows with retracted_at is null;
--   * a comment = a feedback row with a non-null body; its link is
--     https://discord.com/channels/{guild_id}/{channel_id}/{message_id} (guild_id may be null for DMs/unknown).

-- A member's CI user name linked to their Discord account with /link-deployer, so a check-in can
-- mention (and only mention) the person who deployed. One Discord user per CI name; relinking replaces.
create table deployer_link (
    id         integer primary key,
    ci_name    text    not null collate nocase unique, -- deploy.deployer as CI reports it, matched case-insensitively
    user_id    integer not null,                       -- Discord user to mention
    guild_id   integer,                                -- guild the link was made in (informational)
    updated_at integer not null,
    created_at integer not null
);

-- One question "how is <service> <version> doing?" in one channel at one time.
-- Lifecycle: scheduled -> open (claimed by the check-in job at/after due_at, message queued in the outbox)
--            -> closed (close_at passed: message edited with the tally, buttons disabled);
--            scheduled -> cancelled (deploy rolled back or superseded before due_at).
-- The bot's Discord message is also the `message` row with subject_kind = 'checkin', subject_id = checkin.id.
create table checkin (
    id                integer primary key,
    deploy_id         integer not null references deploy (id) on delete cascade,
    guild_id          integer,                         -- guild of channel_id when known (from the subscription or command)
    channel_id        integer not null,                -- where the question is asked
    sequence          integer,                         -- index into LOOPBOT_CHECKIN_DELAYS (0 = first); null for /checkin
    origin            text    not null check (origin in ('schedule', 'command')),
    state             text    not null default 'scheduled'
                              check (state in ('scheduled', 'open', 'closed', 'cancelled')),
    due_at            integer not null,                -- when the question should be asked
    opened_at         integer,                         -- when the job claimed it and queued the post
    late              integer not null default 0,      -- 1: it fell due while the bot was down, asked on restart
    close_at          integer,                         -- opened_at + LOOPBOT_CHECKIN_CLOSE_AFTER
    closed_at         integer,
    cancelled_at      integer,
    cancel_reason     text,                            -- e.g. 'rolled back', 'superseded by v1.4.3'
    mention_user_id   integer,                         -- linked deployer pinged by the post (the only allowed mention)
    message_id        integer,                         -- Discord id of the check-in message, once posted
    thread_id         integer,                         -- Discord id of the thread started from it (== message_id on Discord)
    requested_by      integer,                         -- Discord user who ran /checkin (origin = 'command')
    updated_at        integer not null,
    created_at        integer not null,
    unique (deploy_id, channel_id, sequence)           -- a scheduled check-in exists once; nulls (commands) repeat
);
create index checkin_due on checkin (state, due_at);
create index checkin_close on checkin (state, close_at);
create index checkin_message on checkin (message_id);
create index checkin_thread on checkin (thread_id);

-- Every answer about a release, whatever way it was given. Text is kept whole; displays cut it.
create table feedback (
    id          integer primary key,
    deploy_id   integer not null references deploy (id) on delete cascade, -- the release it is about
    checkin_id  integer references checkin (id) on delete set null,        -- the check-in it answered, if any
    source      text    not null check (source in ('button', 'reaction', 'reply', 'thread', 'modal', 'command')),
    sentiment   integer check (sentiment in (-1, 0, 1)), -- +1 good, 0 meh, -1 bad; null for a plain comment
    body        text,                                    -- the comment, whole; null for votes and reactions
    emoji       text,                                    -- the reaction's emoji (unicode or name:id); reactions only
    user_id     integer not null,                        -- Discord user who gave it
    user_name   text    not null,                        -- their name at the time
    guild_id    integer,                                 -- where it was given ...
    channel_id  integer,                                 -- ... (thread id for thread messages)
    message_id  integer,                                 -- reply/thread: the user's message; button/reaction/modal:
                                                         -- the bot message it was given on; command: null
    given_at    integer not null,                        -- when given (a replaced vote keeps its first given_at)
    updated_at  integer not null,                        -- a later button click replaces the vote
    retracted_at integer,                                -- reaction removed: no longer counts
    created_at  integer not null
);
create index feedback_deploy on feedback (deploy_id, given_at);
create index feedback_checkin on feedback (checkin_id);
create index feedback_given on feedback (given_at);
-- One button vote per person per check-in; a later click updates the row.
create unique index feedback_button_vote on feedback (checkin_id, user_id) where source = 'button';
-- One row per (message, user, emoji); removing and re-adding the reaction toggles retracted_at.
create unique index feedback_reaction on feedback (message_id, user_id, emoji) where source = 'reaction';
-- A redelivered gateway event for the same message does not store the comment twice.
create unique index feedback_message_comment on feedback (message_id) where source in ('reply', 'thread');

-- Finds recently finished production deploys to schedule check-ins for.
create index deploy_finished on deploy (status, environment, finished_at);
