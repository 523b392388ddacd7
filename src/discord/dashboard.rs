//! `/dashboard`: a private link to the web dashboard, signed for this server and this person
//! (`signing::LinkSigner`, valid `DASHBOARD_LINK_HOURS`). The page shows what this server reads.

use chrono::Utc;
use poise::serenity_prelude as serenity;
use poise::CreateReply;

use super::context::{reader_of, CommandError, Context, Data};
use crate::domain::access::{Grant, DASHBOARD_LINK_HOURS};
use crate::domain::visibility::Reader;

/// The commands this module adds to the registry.
pub fn commands() -> Vec<poise::Command<Data, CommandError>> {
    vec![dashboard()]
}

/// The answer to `/dashboard`: the link and what it is.
pub fn answer(link: &str) -> String {
    format!(
        "Your dashboard for this server: {link}\n\
         It shows this server's deploys, four keys, incidents and alerts. The link is yours \
         and lasts {DASHBOARD_LINK_HOURS} hours; anyone holding it can read this page, so do \
         not share it (type /dashboard again for a new one)."
    )
}

/// A link to this server's web dashboard (only you see it).
#[poise::command(slash_command)]
pub async fn dashboard(ctx: Context<'_>) -> Result<(), CommandError> {
    let Reader::Server(guild) = reader_of(ctx)? else {
        return Err(CommandError::Refused(
            "This command works only in a server's channel.".into(),
        ));
    };
    let grant = Grant::issue(guild.0, ctx.author().id.get(), Utc::now());
    let link = ctx.data().dashboard.link(&grant);
    ctx.send(
        CreateReply::default()
            .content(answer(&link))
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_fits_a_message_with_the_longest_link() {
        let base = format!("https://{}", "h".repeat(crate::config::PUBLIC_URL_MAX - 8));
        let link = format!(
            "{base}/dashboard?guild={max}&user={max}&expires=99999999999&sig={}",
            "a".repeat(64),
            max = u64::MAX
        );
        assert!(answer(&link).chars().count() <= super::super::message::CONTENT_MAX);
    }
}
