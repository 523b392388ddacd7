-- The few SQLite functions the store's queries use, defined with the same meaning in PostgreSQL,
-- so one query text runs on both engines (see src/store/backend.rs). Each is small, immutable
-- SQL that PostgreSQL can inline.

-- max(a, b) and min(a, b) of two values (SQLite's scalar forms; the aggregates keep one argument).
create function max(a bigint, b bigint) returns bigint
    language sql immutable parallel safe
    as $$ select greatest(a, b) $$;
create function min(a bigint, b bigint) returns bigint
    language sql immutable parallel safe
    as $$ select least(a, b) $$;

-- glob(pattern, subject): SQLite's glob, case-sensitive: `*` any run, `?` one character,
-- `[...]` / `[^...]` a character class (`[[]` is a literal `[`), anything else itself. The pattern
-- becomes an anchored regular expression.
create function glob_regex(pattern text) returns text
    language plpgsql immutable parallel safe
    as $$
declare
    out text := '^';
    i int := 1;
    n int := length(pattern);
    c text;
    j int;
begin
    while i <= n loop
        c := substr(pattern, i, 1);
        if c = '*' then
            out := out || '.*';
        elsif c = '?' then
            out := out || '.';
        elsif c = '[' then
            j := i + 1;
            if j <= n and substr(pattern, j, 1) = '^' then j := j + 1; end if;
            if j <= n and substr(pattern, j, 1) = ']' then j := j + 1; end if;
            while j <= n and substr(pattern, j, 1) <> ']' loop j := j + 1; end loop;
            if j > n then
                -- An unclosed class: SQLite's glob then matches nothing.
                return 'x^';
            else
                out := out || '[' || replace(replace(substr(pattern, i + 1, j - i - 1), '\', '\\'), '[', '\[') || ']';
                i := j;
            end if;
        elsif position(c in '.^$+(){}|\]') > 0 then
            out := out || '\' || c;
        else
            out := out || c;
        end if;
        i := i + 1;
    end loop;
    return out || '$';
end
$$;
create function glob(pattern text, subject text) returns boolean
    language sql immutable parallel safe
    as $$ select subject ~ glob_regex(pattern) $$;

-- json_each(array): the elements of a JSON array given as text, as (key, value) rows with the
-- element's index as key, like SQLite's json_each over an array.
create function json_each(arr text) returns table (key bigint, value jsonb)
    language sql immutable parallel safe
    as $$ select (t.ordinality - 1)::bigint, t.value from jsonb_array_elements(arr::jsonb) with ordinality t $$;

-- json_group_array(x): the group's values as a JSON array (text), '[]' for none.
create function json_group_array_step(state jsonb, value anyelement) returns jsonb
    language sql immutable parallel safe
    as $$ select state || jsonb_build_array(value) $$;
create function json_group_array_final(state jsonb) returns text
    language sql immutable parallel safe
    as $$ select state::text $$;
create aggregate json_group_array(anyelement) (
    sfunc = json_group_array_step,
    stype = jsonb,
    finalfunc = json_group_array_final,
    initcond = '[]'
);

-- instr(haystack, needle): 1-based position of needle, 0 when absent.
create function instr(haystack text, needle text) returns bigint
    language sql immutable parallel safe
    as $$ select strpos(haystack, needle)::bigint $$;

-- sum(condition): how many rows the condition holds for (SQLite counts a true comparison as 1).
-- Like SQLite's sum, null over no rows (or only null conditions).
create function sum_condition_step(state bigint, value boolean) returns bigint
    language sql immutable parallel safe
    as $$ select case when value is null then state
                      else coalesce(state, 0) + case when value then 1 else 0 end end $$;
create aggregate sum(boolean) (
    sfunc = sum_condition_step,
    stype = bigint
);

-- n * condition: n where the condition holds, else 0 (SQLite reads a comparison as 1 or 0); used
-- to sum signed pieces of a range (store/spans.rs).
create function times_condition(n bigint, condition boolean) returns bigint
    language sql immutable parallel safe
    as $$ select case when condition is null then null when condition then n else 0 end $$;
create operator * (leftarg = bigint, rightarg = boolean, function = times_condition);
create function times_condition(n integer, condition boolean) returns bigint
    language sql immutable parallel safe
    as $$ select case when condition is null then null when condition then n::bigint else 0 end $$;
create operator * (leftarg = integer, rightarg = boolean, function = times_condition);
