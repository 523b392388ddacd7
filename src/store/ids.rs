//! The one place where Discord snowflakes (u64) and SQLite integers (i64) meet, and where
//! timestamps become integers. Both conversions are lossless and pinned by tests.

use chrono::{DateTime, TimeZone, Utc};

use crate::domain::{ChannelId, GuildId, UserId};

/// A yes/no the database computed: SQLite answers 0 or 1 (it has no boolean type), PostgreSQL a
/// boolean. Decodes from either; a row field reads it with `#[sqlx(try_from = "Flag")]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0
    }
}

impl sqlx::Type<sqlx::Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<sqlx::Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <i64 as sqlx::Type<sqlx::Any>>::compatible(ty)
            || <bool as sqlx::Type<sqlx::Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        use sqlx::{TypeInfo, ValueRef};
        if value.type_info().name() == "BOOLEAN" {
            Ok(Flag(<bool as sqlx::Decode<sqlx::Any>>::decode(value)?))
        } else {
            Ok(Flag(<i64 as sqlx::Decode<sqlx::Any>>::decode(value)? != 0))
        }
    }
}

/// A u64 snowflake as SQLite stores it: the same 64 bits read as i64.
pub fn to_db(id: u64) -> i64 {
    id as i64
}

/// The inverse of [`to_db`].
pub fn from_db(value: i64) -> u64 {
    value as u64
}

pub fn channel_from_db(value: i64) -> ChannelId {
    ChannelId(from_db(value))
}

pub fn channel_to_db(channel: ChannelId) -> i64 {
    to_db(channel.0)
}

pub fn guild_to_db(guild: GuildId) -> i64 {
    to_db(guild.0)
}

pub fn user_to_db(user: UserId) -> i64 {
    to_db(user.0)
}

/// Timestamps are INTEGER milliseconds since the Unix epoch, UTC.
pub fn time_to_db(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn time_from_db(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// [`time_from_db`] for values read into domain types: `None` for a time chrono cannot hold.
pub fn checked_time_from_db(millis: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(millis).single()
}

/// [`checked_time_from_db`] as a store error: a time chrono cannot hold is corrupt.
pub fn try_time_from_db(millis: i64) -> Result<DateTime<Utc>, super::StoreError> {
    checked_time_from_db(millis).ok_or_else(|| {
        super::StoreError::Corrupt(format!("{millis} is not a time in milliseconds"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_round_trip_even_above_i64_max() {
        for id in [0, 1, 300_000_000_000_000_003, u64::MAX, i64::MAX as u64 + 1] {
            assert_eq!(from_db(to_db(id)), id);
        }
    }

    #[test]
    fn timestamps_are_unix_milliseconds() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap();
        assert_eq!(time_to_db(at), 1_795_514_400_000);
        assert_eq!(time_from_db(time_to_db(at)), at);
    }
}
