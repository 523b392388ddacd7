-- Subscription filters (issue 16): a deploys subscription may hear only failures (a deploy once it
-- failed or was rolled back, then its later changes); an alerts subscription only alerts at a
-- severity and above. Subscribing again with the same kind and patterns replaces the filters.
alter table subscription add column outcome text not null default 'all'
    check (outcome in ('all', 'failures'));
alter table subscription add column min_severity text
    check (min_severity is null or min_severity in ('critical', 'warning', 'info'));
